"""``distopt-sim``: run a swarm configuration in the in-process simulator (no ROS needed).

Reads the same ``config/*.yaml`` as the ROS runner and prints the same kind of summary, so
a configuration can be tried on a laptop without ROS and then launched on robots.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from distopt_ros.config import default_config, load_params, parse_override
from distopt_ros.core.network import NetworkModel
from distopt_ros.core.scenario import SwarmConfig, make_swarm, reference_solution
from distopt_ros.sim.simulator import simulate

DEFAULT_CONFIG = default_config()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="distopt-sim", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(DEFAULT_CONFIG))
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE")
    args = ap.parse_args(argv)
    try:
        params = load_params(args.config)
        params.update(dict(parse_override(p) for p in args.param))
        cfg = SwarmConfig.from_mapping(params)
    except ValueError as exc:
        print(f"distopt-sim: error: {exc}", file=sys.stderr)
        return 2
    try:
        network = NetworkModel.from_mapping(params, seed=cfg.seed)
    except (ValueError, TypeError) as exc:
        print(f"distopt-sim: error: {exc}", file=sys.stderr)
        return 2
    agents = make_swarm(cfg)
    ref = reference_solution(cfg)
    common = all(np.array_equal(v, ref[0]) for v in ref.values())
    result = simulate(agents, network=network, optimum=ref[0] if common else None,
                      max_rounds=int(params.get("max_rounds", 1_000_000)))
    robots = list(range(cfg.num_robots))
    error = max(float(np.linalg.norm(result.estimates[i] - ref[i])) for i in robots)
    print(f"distopt-sim: {cfg.algorithm} on {cfg.num_robots} robots ({cfg.topology}), seed {cfg.seed}, "
          f"network: {'lossless synchronous' if network.lossless_synchronous else network}")
    print(f"  converged            : {result.converged}")
    print(f"  iterations           : {max(result.iterations[i] for i in robots)}")
    print(f"  max error to optimum : {error:.3e}")
    if common:
        est = np.array([result.estimates[i] for i in robots])
        print(f"  consensus residual   : {float(np.max(np.linalg.norm(est - est.mean(axis=0), axis=1))):.3e}")
    print(f"  messages             : {result.messages_sent} sent, {result.messages_dropped} lost")
    if common:
        print(f"  rounds to 1e-6       : {result.rounds_to(1e-6)}")
    print(f"  wall time            : {result.wall_time:.3f} s")
    return 0 if result.converged else 1


if __name__ == "__main__":
    sys.exit(main())
