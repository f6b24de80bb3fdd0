"""The command-line tools as a pip user meets them: shipped configs by name, clear refusals, no surprise writes."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_the_simulator_takes_a_shipped_config_by_name():
    proc = _run("-m", "distopt_ros.sim.cli", "--config", "consensus_star.yaml", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "converged            : True" in proc.stdout
    assert _run("-m", "distopt_ros.sim.cli", "--config", "microgrid", "--quiet").returncode == 0


@pytest.mark.parametrize("name", ["tracking", "centroid_tracking"])
def test_the_simulator_refuses_a_moving_target_config_in_one_line(name):
    proc = _run("-m", "distopt_ros.sim.cli", "--config", name, timeout=30)
    assert proc.returncode == 2
    assert "moving-target scenario" in proc.stderr and "tracking_runner" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_an_unknown_config_name_lists_the_shipped_ones():
    proc = _run("-m", "distopt_ros.sim.cli", "--config", "consensus_starr", timeout=30)
    assert proc.returncode == 2 and "shipped configs: " in proc.stderr and "consensus_star" in proc.stderr


def test_distopt_swarm_without_ros_says_what_is_missing_and_how_to_get_it():
    code = ("import sys; sys.modules['rclpy'] = None\n"
            "from distopt_ros.ros.runner import main\n"
            "sys.exit(main(['--config', 'consensus']))")
    proc = _run("-c", code, timeout=60)
    assert proc.returncode == 1
    assert "ROS 2 is not available" in proc.stderr and "make demo" in proc.stderr and "distopt-sim" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("module", ["distopt_ros.sim.cli", "distopt_ros.ros.runner", "distopt_ros.ros.tracking_runner"])
def test_every_option_has_a_help_text(module, monkeypatch):
    """--help describes every option (checked on the parser itself, so no option can slip through)."""
    import importlib

    mod = importlib.import_module(module)
    seen: list[argparse.ArgumentParser] = []
    real_parse = argparse.ArgumentParser.parse_args

    def capture(self, *a, **k):
        seen.append(self)
        raise SystemExit(0)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(SystemExit):
        mod.main([])
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", real_parse)
    actions = [a for a in seen[0]._actions if a.dest != "help"]
    assert actions and all(a.help for a in actions), [a.dest for a in actions if not a.help]


def test_an_existing_out_is_refused_before_anything_starts(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    proc = _run("-m", "distopt_ros.ros.tracking_runner", "--out", str(taken), timeout=30)
    assert proc.returncode == 2 and f"--out {taken} exists" in proc.stderr and "--force" in proc.stderr
    table = tmp_path / "table.md"
    table.write_text("old")
    proc = _run("benchmarks/bench_large_swarm.py", "--agents", "20", "--iterations", "5", "--radius", "0.6",
                "--out", str(table), timeout=60)
    assert proc.returncode == 2 and "exists" in proc.stderr and table.read_text() == "old"
    assert "Traceback" not in proc.stderr
    proc = _run("benchmarks/bench_large_swarm.py", "--agents", "20", "--iterations", "5", "--radius", "0.6",
                "--out", str(table), "--force", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert table.read_text().startswith("# Large swarm")
