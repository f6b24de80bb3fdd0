"""A multi-process swarm for fault tests: ``distopt-swarm --mode multi`` in a subprocess, followed line by line."""

import os
import re
import subprocess
import sys
import threading
import time

import numpy as np

from distopt_ros.config import swarm_parameters
from distopt_ros.core.scenario import SwarmConfig

FAST_LIVENESS = ["-p", "neighbor_timeout:=1.5", "-p", "status_period:=0.25"]


class Runner:
    """``distopt-swarm --mode multi`` in a subprocess, its output collected line by line."""

    def __init__(self, domain_id: int, args: list[str]) -> None:
        env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
        self.proc = subprocess.Popen([sys.executable, "-m", "distopt_ros.ros.runner", "--mode", "multi",
                                      "--domain-id", str(domain_id), "--timeout", "120", *FAST_LIVENESS, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for_iteration(self, iteration: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            its = [int(m.group(1)) for line in list(self.lines) if (m := re.search(r"iteration\s+(\d+)-", line))]
            if its and its[-1] >= iteration:
                return
            time.sleep(0.05)
        raise AssertionError("the swarm did not get going:\n" + "".join(self.lines))

    def robot_pid(self, name: str) -> int:
        """The pid of the runner's child process for ``name`` (its namespace)."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    cmd = fh.read().split(b"\0")
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == self.proc.pid and f"__ns:=/{name}".encode() in cmd:
                return int(entry)
        raise AssertionError(f"no process for {name}")

    def finish(self, timeout: float = 150.0) -> str:
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        out = "".join(self.lines)
        self.rc = rc
        return out


def optimum_and_error(out: str) -> tuple[np.ndarray, float]:
    m = re.search(r"max error to optimum : (\S+)\s+\(centralized optimum \[([^\]]+)\]", out)
    assert m, out
    return np.array([float(v) for v in m.group(2).split()]), float(m.group(1))


def config_of(extra: list[str], config: str = "consensus") -> SwarmConfig:
    overrides = dict(a.split(":=", 1) for a in extra[1::2])
    params, _ = swarm_parameters(config, {k: _num(v) for k, v in overrides.items()})
    return SwarmConfig.from_mapping(params)


def _num(v: str):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v
