# Two entry points, each setting up a fresh machine by itself (venv, pinned wheels, messages, models):
#   make demo   - run camera -> perception -> controller on the embedded synthetic scene, print a summary
#   make test   - run the test suite (what CI runs)
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
NETNS := $(CURDIR)/scripts/netns_run.sh
DEMO_SECONDS ?= 20

.PHONY: setup demo test bench colcon-build clean

setup:
	@VENV=$(VENV) ./scripts/setup_env.sh

demo: setup
	$(NETNS) $(PY) -m pose_estimation_ros.runner demo --duration $(DEMO_SECONDS)

test: setup
	$(NETNS) $(PY) -m pytest -q test

bench: setup
	$(NETNS) $(PY) -m bench.perception_latency

colcon-build: setup
	./scripts/colcon_build.sh $(VENV) /tmp/pose_estimation_ros_ws

clean:
	rm -rf build install log .pytest_cache
