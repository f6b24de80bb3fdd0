"""What the launch files do, tested through the code they call (launch_ros is on no registry for CI).

The pure parts (arguments from the schema, validation before any node starts, what a node's
exit means to the launch) run without ROS; the one-shot ending runs the real node
executables, one process each, as ``ros2 launch`` starts them, and checks that the robots
exit by themselves and the monitor prints the summary and exits 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import yaml

from distopt_ros.core.schema import SCHEMA, ParameterError, group
from distopt_ros.launch_support import (
    SWARM_GROUPS,
    TRACKING_GROUPS,
    argument_specs,
    exit_verdict,
    launch_parameters,
    parse_arguments,
    plan_swarm,
)

CONSENSUS = os.path.join(os.path.dirname(__file__), "..", "config", "consensus.yaml")


def test_every_launch_argument_comes_from_the_schema():
    names = [name for name, _ in argument_specs()]
    assert names[:2] == ["config", "log_level"]
    expected = [p.name for p in parameters_of(SWARM_GROUPS) if p.name != "robot_id"]
    assert names[2:] == expected
    text = dict(argument_specs())["rho"]
    assert "must be a finite number > 0" in text
    tracking = [name for name, _ in argument_specs(TRACKING_GROUPS)]
    assert {"target_kind", "gain", "model", "marker_rate"} <= set(tracking)
    assert not {"robot_id", "initial_x", "initial_y"} & set(tracking)


def parameters_of(groups):
    return [p for g in ("scenario", "transport", "node") if g in groups for p in group(g)]


@pytest.mark.parametrize("texts,message", [
    ({"topology": "moon"}, "launch argument topology must be one of ring"),
    ({"rho": "0"}, "launch argument rho must be a finite number > 0, got 0"),
    ({"num_robots": "abc"}, "launch argument num_robots must be an integer in [2, 100000], got 'abc'"),
    ({"rhoo": "1.0"}, "unknown launch argument 'rhoo' (did you mean 'rho'?)"),
    ({"loss": "bernoulli", "loss_probability": "0.2"}, "round_timeout must be > 0 when loss is 'bernoulli'"),
    ({"algorithm": "qudrc"}, "topology must be one of directed_ring, random_strongly_connected for qudrc"),
    ({"algorithm": "admm", "execution_mode": "async"}, "execution_mode must be sync for admm"),
])
def test_bad_launch_arguments_stop_the_launch_before_any_node_with_one_line(texts, message):
    with pytest.raises(ParameterError) as err:
        plan_swarm(CONSENSUS, {"config": CONSENSUS, "log_level": "info", **texts})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_launch_arguments_are_typed_by_the_schema_and_empty_ones_keep_the_yaml():
    values = parse_arguments({"rho": "2", "round_timeout": "1", "num_robots": "6", "seed": "", "qos_preset": ""})
    assert values == {"rho": 2.0, "round_timeout": 1.0, "num_robots": 6}
    assert isinstance(values["rho"], float)
    plan = plan_swarm(CONSENSUS, {"num_robots": "5", "algorithm": "admm"})
    assert plan.swarm.num_robots == 5 and plan.swarm.has_coordinator and plan.one_shot
    assert plan.swarm.seed == 7  # the YAML's
    tracking = plan_swarm(os.path.join(os.path.dirname(CONSENSUS), "tracking.yaml"), {"rviz": "false"},
                          TRACKING_GROUPS, ("rviz", "simulate"))
    assert not tracking.one_shot  # tracking runs until Ctrl-C: no monitor ends it


@pytest.mark.parametrize("name,code,monitor,keep_alive,verdict", [
    ("/swarm_monitor", 0, True, False, "shutdown"),
    ("/swarm_monitor", 0, True, True, None),
    ("/robot_2/robot_node", 0, False, False, None),
    ("/robot_2/robot_node", 3, False, False, None),
    ("/swarm_monitor", 3, True, False, "/swarm_monitor: the swarm stopped without converging (exit code 3)"),
    ("/robot_2/robot_node", 2, False, False, "/robot_2/robot_node: refused a parameter (exit code 2)"),
    ("/robot_2/robot_node", -11, False, False, "/robot_2/robot_node: crashed (segmentation fault) (exit code -11)"),
    ("/robot_2/robot_node", -9, False, False, "/robot_2/robot_node: was killed (exit code -9)"),
])
def test_what_a_node_exit_means_to_the_launch(name, code, monitor, keep_alive, verdict):
    got = exit_verdict(name, code, monitor, keep_alive)
    assert got == verdict or (verdict is not None and got.startswith(verdict))


def test_launch_parameters_leave_out_what_is_set_per_robot():
    names = {p.name for p in launch_parameters(TRACKING_GROUPS)}
    assert "robot_id" not in names and "initial_x" not in names and "keep_alive" in names
    assert all(SCHEMA[n].group in TRACKING_GROUPS for n in names)


def _swarm_processes(tmp_path, domain_id: int, params: dict) -> list[subprocess.Popen]:
    """The swarm_monitor and one robot_node per robot from one YAML, one process each, as a launch starts them."""
    path = tmp_path / "swarm.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain_id)}

    def start(module, ns, *extra):
        remap = ["-r", f"__ns:=/{ns}"] if ns else []
        return subprocess.Popen([sys.executable, "-m", module, "--ros-args", *remap, "--params-file", str(path),
                                 *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    return [start("distopt_ros.ros.monitor", ""),
            *(start("distopt_ros.ros.robot_node", f"robot_{i}", "-p", f"robot_id:={i}")
              for i in range(params["num_robots"]))]


def _finish(procs: list[subprocess.Popen], timeout: float = 90) -> list[tuple[str, str]]:
    """Wait for every process to exit by itself (killed after ``timeout``); their outputs."""
    deadline = time.monotonic() + timeout
    try:
        return [p.communicate(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


@pytest.mark.ros
def test_a_one_shot_swarm_started_like_a_launch_ends_by_itself_with_the_monitor_summary(tmp_path, domain_id):
    """robot_node x4 + swarm_monitor, one process each, from one YAML: all exit 0 by themselves."""
    procs = _swarm_processes(tmp_path, domain_id, {"algorithm": "radmm", "num_robots": 4, "topology": "ring",
                                                   "seed": 7, "max_iterations": 2000, "tolerance": 1e-10})
    outs = _finish(procs)
    (out, err), robots = outs[0], outs[1:]
    assert procs[0].returncode == 0, err
    assert "status               : CONVERGED" in out and "robots reporting     : 4 of 4" in out
    error = float(out.split("max error to optimum :")[1].split()[0])
    assert error < 1e-8
    for p, (_, r_err) in zip(procs[1:], robots, strict=True):
        assert p.returncode == 0, r_err
        assert "Traceback" not in r_err


@pytest.mark.ros
def test_a_robot_that_cannot_converge_says_so_and_the_monitor_reports_it(tmp_path, domain_id):
    """An iteration cap far too low: the robots stop (exit 3), the monitor says so (exit 3), nothing claims success."""
    procs = _swarm_processes(tmp_path, domain_id, {"algorithm": "radmm", "num_robots": 3, "topology": "ring",
                                                   "seed": 7, "max_iterations": 5, "tolerance": 1e-10})
    outs = _finish(procs)
    assert [p.returncode for p in procs] == [3, 3, 3, 3]
    assert "STOPPED WITHOUT CONVERGING" in outs[0][0]
    assert all("(iteration_cap)" in err for _, err in outs[1:])
