# Two commands for a fresh machine: `make demo` and `make test` (both set up what is missing).
SHELL := /bin/bash
ENV := source scripts/env.sh
# The ROS 2 distro of every target: jazzy (default) or kilted, as `make test DISTRO=kilted` or
# DISTOPT_ROS_DISTRO=kilted in the environment; each has its own venv and build space.
DISTROS := jazzy kilted
ifneq ($(DISTRO),)
export DISTOPT_ROS_DISTRO := $(DISTRO)
endif

.PHONY: setup demo test test-all lint sim results mutation clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	@$(ENV) && python -m distopt_ros.ros.runner --config config/consensus.yaml

test: setup
	@$(ENV) && python -m pytest test

# The whole suite on every supported distro, one after the other (what CI runs).
test-all:
	@set -e; for d in $(DISTROS); do echo "== make test DISTRO=$$d"; $(MAKE) --no-print-directory test DISTRO=$$d; done

lint: setup
	@$(ENV) && ruff check distopt_ros test launch examples benchmarks scripts/robot_node scripts/coordinator_node scripts/distopt_swarm scripts/target_node scripts/kinematics_node scripts/tracking_node scripts/visualization_node scripts/distopt_tracking scripts/tracking_coordinator scripts/swarm_monitor setup.py

sim: setup
	@$(ENV) && python -m distopt_ros.sim.cli --config config/consensus.yaml

# Every results table of benchmarks/results, regenerated from this checkout (the ROS transport
# table takes about 20 minutes); benchmarks write nowhere unless told to. test/test_results_drift.py
# fails while a table's code-determined rows differ from what this checkout produces.
results: setup
	@$(ENV) && python benchmarks/bench_algorithms.py --out benchmarks/results/algorithms.md --force \
	  && python benchmarks/bench_peers.py --out benchmarks/results/peers.md --force --readme README.md \
	  && python benchmarks/bench_gradient_tracking.py --out benchmarks/results/gradient_tracking.md --force \
	  && python benchmarks/bench_quantized.py --out benchmarks/results/quantized.md --force \
	  && python benchmarks/bench_large_swarm.py --out benchmarks/results/large_swarm.md --force \
	  && python benchmarks/bench_ros_transport.py --out benchmarks/results/ros_transport.md --force \
	  && python benchmarks/bench_faults.py --out benchmarks/results/faults.md --force --readme README.md

# Mutation testing of distopt_ros/core with mutmut (settings: setup.cfg [mutmut]), one worker under nice, in the
# scratch copy .build-mutation/; prints the score of distopt_ros/core/algorithms and of distopt_ros/core and
# writes benchmarks/results/mutation.md. `make mutation ONLY=algorithms` mutates distopt_ros/core/algorithms only.
mutation: setup
	@$(ENV) && nice -n 10 python scripts/mutation_score.py --max-children 1 $(if $(ONLY),--only $(ONLY))

clean:
	rm -rf .build .build-*
