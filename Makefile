# Two entry points, each setting up a fresh machine by itself (venv, pinned wheels, messages, models):
#   make demo   - run camera -> perception -> controller on the embedded synthetic scene, print a summary
#   make test   - run the test suite (what CI runs)
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
NETNS := $(CURDIR)/scripts/netns_run.sh
DEMO_SECONDS ?= 20
# The demo's camera is the mobile base's mount (zones_mobile_base.yaml: 1.2 m above the floor, level), so perception
# places people by where their feet meet the floor (body_scale floor, docs/perception.md); DEMO_ARGS= for the defaults.
DEMO_ARGS ?= --set perception.body_scale=floor --set perception.floor.camera_height=1.2

.PHONY: setup demo test bench colcon-build clean contact-sheet render-bench train-spin sim

setup:
	@VENV=$(VENV) ./scripts/setup_env.sh

demo: setup
	$(NETNS) $(PY) -m pose_estimation_ros.runner demo --duration $(DEMO_SECONDS) $(DEMO_ARGS)

test: setup
	$(NETNS) $(PY) -m pytest -q test

bench: setup
	$(NETNS) $(PY) -m bench.perception_latency

colcon-build: setup
	./scripts/colcon_build.sh $(VENV) /tmp/pose_estimation_ros_ws

# Renderer (training/render): the 64-sample contact sheet shown in the README, and its throughput table.
contact-sheet: setup
	$(PY) -m training.render.make_shards --out runs/render/contact --num 64 --shared --seed 0 \
		--contact-sheet docs/contact_sheet.png

render-bench: setup
	$(PY) -m bench.render_throughput --shared --n 32 --batch 16

clean:
	rm -rf build install log .pytest_cache

# MoCap-SPIN default per-frame model (resumable: rerun to continue; on a fresh clone it continues from the
# committed models/mocap_spin_resume.pt): render shards, label them with the BlazePose keypoints, import the mocap and
# make the image-less lifting table (once), train the keypoint-input model, export fp16 (+ fp32 twin).
SPIN_SAMPLES ?= 3000
SHARED ?= ../shared/data
LIFT_SUBJECTS ?= 01 03 06 10 13 131 135 14 16 35 94
RENDER_SUBJECTS ?= 01 03 05 06 131
# more image poses: the training part of these subjects (the renderer holds one out itself: 135), own render seed
EXTRA_RENDER_SUBJECTS ?= 10 13 135 14 16 35 94
EXTRA_SPIN_SAMPLES ?= 8000
EXTRA2_SPIN_SAMPLES ?= 2500
MORE_SPIN_SAMPLES ?= 4000
train-spin: setup
	[ -d runs/mocap/06 ] || $(PY) -m training.mocap_cli import-mocap $(SHARED)/cmu $(SHARED)/cmu-cc $(SHARED)/cmu-more \
		--out runs/mocap --body anny --fps 30 --test-subjects 131 16 35 01 12 14 --val-subjects 03 10
	# the renderer's motion: the CMU and CMU-CC subjects of that canonical import on the Anny body (held out: 05)
	mkdir -p runs/render_motion && for s in $(RENDER_SUBJECTS); do [ -d runs/render_motion/$$s ] || cp -r runs/mocap/$$s runs/render_motion/; done
	$(PY) -m training.spin.render_shards --split val --out runs/spin/shards/val --count 64
	$(PY) -m training.spin.render_shards --split test --out runs/spin/shards/test --count 128
	$(PY) -m training.spin.render_shards --split train --out runs/spin/shards/train --count $(SPIN_SAMPLES)
	mkdir -p runs/render_motion_extra && for s in $(EXTRA_RENDER_SUBJECTS); do [ -d runs/render_motion_extra/$$s ] || cp -r runs/mocap/$$s runs/render_motion_extra/; done
	$(PY) -m training.spin.render_shards --config training/configs/spin_keypoints.yaml --set 'data.motion_dirs=[runs/render_motion_extra]' \
		--split train --seed 1000 --out runs/spin/shards_extra/train --count $(EXTRA_SPIN_SAMPLES)
	# 10,500 more renders with their own seeds (the default model's last stages, 2026-12-01 23:00)
	$(PY) -m training.spin.render_shards --config training/configs/spin_keypoints.yaml --set 'data.motion_dirs=[runs/render_motion_extra]' \
		--split train --seed 2000 --out runs/spin/shards_extra2/train --count $(EXTRA2_SPIN_SAMPLES)
	$(PY) -m training.spin.render_shards --split train --seed 3000 --out runs/spin/shards_more/train --count $(MORE_SPIN_SAMPLES)
	$(PY) -m training.spin.render_shards --config training/configs/spin_keypoints.yaml --set 'data.motion_dirs=[runs/render_motion_extra]' \
		--split train --seed 4000 --out runs/spin/shards_extra3/train --count $(MORE_SPIN_SAMPLES)
	$(PY) -m training.spin.shard_keypoints runs/spin/shards/train runs/spin/shards/val runs/spin/shards/test runs/spin/shards_extra/train \
		runs/spin/shards_extra2/train runs/spin/shards_more/train runs/spin/shards_extra3/train
	[ -f runs/spin/lifting/table.npz ] || $(PY) -m training.spin.lifting --subjects $(LIFT_SUBJECTS) --count 30000 \
		--out runs/spin/lifting/table.npz
	$(PY) -m training.spin.train --config training/configs/spin_keypoints.yaml --out runs/spin_keypoints
	$(PY) -m training.export --out models --per-frame-ckpt runs/spin_keypoints/ckpt_best.pt --fp16 --per-frame-only

# Closed-loop scenario suite (issue 13): rendered frames -> real perception + controller nodes -> robot, on sim time.
# Prints the table; results, plots and node logs in runs/sim/ (~6 min on 2 cores: node runs in 2 worker processes).
# SIM_ARGS e.g. "--scenarios walk_toward --brain both", "--jobs 1" (one process, a progress bar per run).
SIM_ARGS ?=
sim: setup
	$(NETNS) $(PY) -m sim suite --out runs/sim $(SIM_ARGS)
