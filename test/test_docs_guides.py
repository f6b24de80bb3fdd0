"""The guides' code runs: docs/write_an_objective.md and docs/write_an_algorithm.md.

A guide's fenced blocks whose first line is ``# file: NAME`` are written to a temporary
directory (which is the working directory and first on ``sys.path``, so a guide's example
module imports); the ``python`` blocks whose first line is ``# run`` are then executed in
order, in one fresh namespace per guide. The blocks assert what the text says; this test
checks the main claim again from what they leave behind (every robot converged, within the
stated tolerance of the centralized answer), so a guide whose code breaks fails the suite.

Whatever a guide registers (an objective name, an algorithm) is removed afterwards, and so
are the modules it imported from its directory. No ROS, no DDS: the simulator only.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from distopt_ros.core import objectives as objective_registry
from distopt_ros.core import registry as algorithm_registry

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>[\w-]*)[ ]*\n(?P<body>.*?)^(?P=indent)```[ ]*$",
                   re.MULTILINE | re.DOTALL)
FILE_MARK = re.compile(r"#\s*file:\s*(?P<name>[\w.-]+)\s*$")
RUN_MARK = "# run"


def blocks(guide: str) -> list[tuple[str, str]]:
    """The guide's fenced blocks as ``(language, body)``, in order (indented ones de-indented)."""
    text = (DOCS / guide).read_text()
    return [(m["lang"], textwrap.dedent(m["body"])) for m in FENCE.finditer(text)]


def files(guide: str) -> dict[str, str]:
    """The ``# file: NAME`` blocks: name -> content."""
    out = {}
    for _lang, body in blocks(guide):
        match = FILE_MARK.fullmatch(body.split("\n", 1)[0].strip())
        if match:
            out[match["name"]] = body
    return out


def runnable(guide: str) -> list[str]:
    """The ``python`` blocks marked ``# run``, in order."""
    return [body for lang, body in blocks(guide) if lang == "python" and body.split("\n", 1)[0].strip() == RUN_MARK]


@pytest.fixture
def guide_sandbox(tmp_path, monkeypatch):
    """A temporary working directory on sys.path; registries and imported modules restored afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    objectives_before = dict(objective_registry._REGISTRY)
    algorithms_before = dict(algorithm_registry.ALGORITHM_SPECS)
    modules_before = set(sys.modules)
    yield tmp_path
    objective_registry._REGISTRY.clear()
    objective_registry._REGISTRY.update(objectives_before)
    algorithm_registry.ALGORITHM_SPECS.clear()
    algorithm_registry.ALGORITHM_SPECS.update(algorithms_before)
    for name in set(sys.modules) - modules_before:
        path = getattr(sys.modules[name], "__file__", None) or ""
        if path.startswith(str(tmp_path)):
            del sys.modules[name]


def run_guide(guide: str, directory: Path) -> dict:
    """Write the guide's files into ``directory``, run its ``# run`` blocks in order; the namespace they leave."""
    for name, content in files(guide).items():
        (directory / name).write_text(content)
    namespace: dict = {"__name__": f"guide_{Path(guide).stem}"}
    code = runnable(guide)
    for number, body in enumerate(code, 1):
        try:
            exec(compile(body, f"{guide} (run block {number} of {len(code)})", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"{guide}: run block {number} of {len(code)} failed: {type(exc).__name__}: {exc}\n{body}")
    return namespace


def _max_error(agents, optimum) -> float:
    return max(float(np.linalg.norm(np.asarray(a.estimate()) - optimum)) for i, a in agents.items() if i >= 0)


@pytest.mark.parametrize("guide,module,minimum_blocks", [
    ("write_an_objective.md", "huber_costs.py", 4),
    ("write_an_algorithm.md", "extra_consensus.py", 2),
])
def test_each_guide_marks_its_example_module_and_code_to_run(guide, module, minimum_blocks):
    assert module in files(guide)
    assert len(runnable(guide)) >= minimum_blocks  # an unmarked guide would pass vacuously


def test_the_objective_guide_runs_and_converges_to_the_centralized_answer(guide_sandbox):
    ns = run_guide("write_an_objective.md", guide_sandbox)
    agents, optimum = ns["agents"], ns["optimum"]
    assert ns["result"].converged and all(a.converged for a in agents.values())
    assert _max_error(agents, optimum) < 1e-8  # the guide's stated tolerance
    np.testing.assert_allclose(optimum, [1.15, 1.9], atol=1e-9)
    # The answer is feasible for every robot's box, and the robots' costs really are minimal there.
    for objective in ns["objectives"]:
        assert np.all(objective.project(optimum) == optimum)
    total = sum(objective.value(optimum) for objective in ns["objectives"])
    for step in ([1e-3, 0.0], [-1e-3, 0.0], [0.0, -1e-3]):
        assert sum(objective.value(optimum + np.array(step)) for objective in ns["objectives"]) > total
    assert (guide_sandbox / "huber_robot_0.yaml").is_file()


def test_the_algorithm_guide_runs_and_converges_to_the_centralized_optimum(guide_sandbox):
    ns = run_guide("write_an_algorithm.md", guide_sandbox)
    for agents_name, optimum_name in (("agents", "optimum"), ("deployed", "optimum")):
        agents = ns[agents_name]
        assert all(a.converged for a in agents.values()), agents_name
        assert _max_error(agents, ns[optimum_name]) < 1e-8, agents_name  # the guide's stated tolerance
    assert all(a.step_size == 0.15 for a in ns["deployed"].values())  # the live change reached every robot


def _dist_info(directory: Path, name: str, group: str, entry: str) -> None:
    """A minimal installed distribution on ``directory`` (what pip leaves in site-packages) with one entry point."""
    info = directory / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry}\n")


def test_an_objective_entry_point_of_an_installed_package_is_found_by_its_name(guide_sandbox):
    """The guide's pyproject.toml snippet, as the metadata pip installs: ``objective: huber`` works."""
    (guide_sandbox / "huber_costs.py").write_text(files("write_an_objective.md")["huber_costs.py"])
    _dist_info(guide_sandbox, "my_costs", "distopt_ros.objectives", "huber = huber_costs:HuberPosition")
    objective = objective_registry.make_objective("huber", {"measurement": [0.0, 1.0]}, 2)
    assert type(objective).__name__ == "HuberPosition"
    assert objective_registry.registered_objectives()["huber"] == "huber_costs:HuberPosition"


def test_an_algorithm_entry_point_of_an_installed_package_is_accepted_by_a_robot(guide_sandbox, monkeypatch):
    """The guide's entry point, as pip installs it: a robot's parameters may name the algorithm."""
    from distopt_ros.core.scenario import validate_parameters

    (guide_sandbox / "extra_consensus.py").write_text(files("write_an_algorithm.md")["extra_consensus.py"])
    _dist_info(guide_sandbox, "my_algorithms", "distopt_ros.algorithms", "extra = extra_consensus:SPEC")
    monkeypatch.setattr(algorithm_registry, "_loaded_entry_points", False)
    cfg, _ = validate_parameters({"algorithm": "extra", "num_robots": 4, "step": 0.1})
    assert cfg.algorithm == "extra"
