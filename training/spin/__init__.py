"""MoCap-SPIN training: stage-1 pretraining, stage-2 BN-only fine-tune on mixed real/synthetic batches,
site adaptation, ablation and evaluation of the per-frame model (see docs/mocap_spin.md)."""
