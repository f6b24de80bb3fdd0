"""The committed results tables match what the code at HEAD produces (their lossless, seeded rows).

Each benchmark names the columns of its table that are a function of the code alone (rounds, messages,
bits, floats, errors of seeded runs; not wall times, nor runs over DDS whose rounds follow the machine's
timing) and can recompute those rows. This test does, and fails with every row that differs: a change
to measured code then shows up here until ``make results`` has regenerated the tables.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))

tables = importlib.import_module("tables")


def _check(table_file: str, produced: list[dict[str, str]], key: tuple[str, ...], columns: tuple[str, ...],
           table_index: int = 0) -> None:
    committed = tables.read_tables(RESULTS / table_file)[table_index]
    assert produced, "the benchmark produced no rows"
    problems = tables.drift(committed, produced, key, columns)
    assert not problems, (f"benchmarks/results/{table_file} no longer matches the code (run `make results`):\n  "
                          + "\n  ".join(problems))


def test_the_drift_check_catches_a_changed_cell_and_a_missing_row(tmp_path):
    """The comparison itself: a differing cell and an unknown row are reported, equal rows are not."""
    path = tmp_path / "t.md"
    path.write_text("# t\n\n| a | b | wall |\n|---|---|---|\n| x | 1 | 0.3 |\n| y | 2 | 0.1 |\n")
    committed = tables.read_tables(path)[0]
    assert committed == [{"a": "x", "b": "1", "wall": "0.3"}, {"a": "y", "b": "2", "wall": "0.1"}]
    assert tables.drift(committed, [{"a": "x", "b": "1", "wall": "9"}], ("a",), ("b",)) == []
    assert len(tables.drift(committed, [{"a": "x", "b": "3"}], ("a",), ("b",))) == 1
    assert "not in the committed table" in tables.drift(committed, [{"a": "z", "b": "1"}], ("a",), ("b",))[0]


def test_algorithms_table_lossless_rows():
    bench = importlib.import_module("bench_algorithms")
    produced = bench.lossless_rows()
    _check("algorithms.md", produced, ("algorithm", "problem", "settings"), bench.LOSSLESS_COLUMNS)
    committed = tables.read_tables(RESULTS / "algorithms.md")[0]
    stale = {(r["algorithm"], r["problem"], r["settings"]) for r in committed if "loss" not in r["settings"]} - {
        (r["algorithm"], r["problem"], r["settings"]) for r in produced}
    assert not stale, f"lossless rows the code no longer produces: {sorted(stale)}"
    bits = bench.bits_to_accuracy()
    _check("algorithms.md", bits, ("algorithm",), ("kbit per agent to 1e-3",), table_index=1)


def test_peers_table():
    pytest.importorskip("rclpy")  # its bytes are measured by the ROS serializer
    bench = importlib.import_module("bench_peers")
    _check("peers.md", bench.run(), bench.KEY_COLUMNS, bench.LOSSLESS_COLUMNS)


def test_gradient_tracking_table():
    bench = importlib.import_module("bench_gradient_tracking")
    _check("gradient_tracking.md", bench.run(), bench.KEY_COLUMNS, bench.LOSSLESS_COLUMNS)


def test_faults_table_simulator_rows():
    bench = importlib.import_module("bench_faults")
    _check("faults.md", bench.table_rows(bench.sim_rows()), bench.KEY_COLUMNS, bench.LOSSLESS_COLUMNS)


def test_the_readme_shows_the_committed_peers_table():
    """`make results` regenerates benchmarks/results/peers.md and copies its table into the README."""
    bench = importlib.import_module("bench_peers")
    rows = tables.read_tables(RESULTS / "peers.md")[0]
    readme = (ROOT / "README.md").read_text()
    assert f"{bench.README_BEGIN}\n{bench.readme_table(rows)}\n{bench.README_END}" in readme


def test_the_readme_states_the_committed_mutation_score():
    """The README's mutation score is the one benchmarks/results/mutation.md records for core/algorithms."""
    import re

    table = (RESULTS / "mutation.md").read_text()
    m = re.search(r"\| `distopt_ros/core/algorithms` \| (\d+) / (\d+) \| ([\d.]+) %", table)
    assert m, "no core/algorithms total in benchmarks/results/mutation.md"
    readme = (ROOT / "README.md").read_text()
    stated = f"<!-- mutation score -->{m[1]} / {m[2]} = {m[3]} % of the mutants killed<!-- end of mutation score -->"
    assert stated in readme
