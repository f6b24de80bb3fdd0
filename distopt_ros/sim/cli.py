"""``distopt-sim``: run a swarm configuration in the in-process simulator (no ROS needed).

Reads the same ``config/*.yaml`` as the ROS runner (a path, or the name of a shipped
configuration such as ``consensus_star``) and prints the same kind of summary, so a
configuration can be tried on a laptop without ROS and then launched on robots. One-shot
problems only: a moving-target (tracking) configuration is refused, since it never ends.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from distopt_ros.config import (
    check_sections_agree,
    default_config,
    load_params,
    parse_override,
    read_sections,
    resolve_config,
    shipped_configs,
)
from distopt_ros.core.network import NetworkModel
from distopt_ros.core.scenario import make_swarm, reference_solution, validate_parameters
from distopt_ros.core.schema import SCHEMA, ParameterError
from distopt_ros.sim.simulator import simulate

DEFAULT_CONFIG = default_config()
PROGRESS_PERIOD = 2.0
"""Seconds between progress lines of a long simulation (on stderr)."""
MOVING_TARGET = ("tracking", "target", "kinematics", "visualization")
"""Schema groups of the moving-target scenario, which this one-shot simulator cannot run."""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="distopt-sim", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(DEFAULT_CONFIG),
                    help=f"parameter YAML (ros__parameters layout) or a shipped one: {', '.join(shipped_configs())} "
                         "(default: consensus)")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                    help="override any parameter, e.g. -p algorithm:=atg -p loss:=bernoulli (repeatable)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        path = resolve_config(args.config)
        params = load_params(path)
        params.update(dict(parse_override(p) for p in args.param))
        moving = sorted(k for k in params if k in SCHEMA and SCHEMA[k].group in MOVING_TARGET)
        if moving:
            raise ParameterError(f"{path} describes a moving-target scenario ({', '.join(moving[:3])}, ...), "
                                 "which never ends; distopt-sim runs one-shot problems only (with ROS 2: python -m "
                                 "distopt_ros.ros.tracking_runner or tracking.launch.py)")
        cfg, params = validate_parameters(params, where=str(path))
        check_sections_agree(read_sections(path), cfg.num_robots, path)
        network = NetworkModel.from_mapping(params, seed=cfg.seed)
    except (ValueError, TypeError) as exc:
        print(f"distopt-sim: error: {exc}", file=sys.stderr)
        return 2
    agents = make_swarm(cfg)
    ref = reference_solution(cfg)
    common = all(np.array_equal(v, ref[0]) for v in ref.values())
    robots = list(range(cfg.num_robots))
    started = last = time.perf_counter()

    def progress(rnd: int, swarm: dict) -> None:
        nonlocal last
        now = time.perf_counter()
        if not args.quiet and now - last >= PROGRESS_PERIOD:
            last = now
            done = sum(swarm[i].done for i in robots)
            print(f"distopt-sim: round {rnd}, iteration {max(swarm[i].iteration for i in robots)} of "
                  f"{cfg.max_iterations}, robots done {done}/{cfg.num_robots}, {now - started:.0f} s",
                  file=sys.stderr, flush=True)

    result = simulate(agents, network=network, optimum=ref[0] if common else None,
                      max_rounds=int(params.get("max_rounds", SCHEMA["max_rounds"].default)), on_round=progress)
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
    return 0 if result.converged else 3


if __name__ == "__main__":
    sys.exit(main())
