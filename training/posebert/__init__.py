"""PoseBERT training on motion capture: corruption, losses, noise models, streaming evaluation, CLIs.

See ``docs/posebert.md``. CLIs: ``python -m training.posebert.train | evaluate | ablation | noise_model | latency``.
"""
