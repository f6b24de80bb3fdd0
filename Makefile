# Two commands for a fresh machine: `make demo` and `make test` (both set up what is missing).
SHELL := /bin/bash
ENV := source scripts/env.sh

.PHONY: setup demo test lint sim clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	@$(ENV) && python -m distopt_ros.ros.runner --config config/consensus.yaml

test: setup
	@$(ENV) && python -m pytest test

lint: setup
	@$(ENV) && ruff check distopt_ros test launch scripts/robot_node scripts/coordinator_node scripts/distopt_swarm scripts/target_node scripts/kinematics_node scripts/tracking_node scripts/visualization_node scripts/distopt_tracking scripts/tracking_coordinator setup.py

sim: setup
	@$(ENV) && python -m distopt_ros.sim.cli --config config/consensus.yaml

clean:
	rm -rf .build
