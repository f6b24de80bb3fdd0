#!/usr/bin/env python3
"""Mutation testing of distopt_ros/core with mutmut 3, and its score table (``make mutation``).

mutmut's settings are in setup.cfg (``[mutmut]``: what to mutate, which fast core tests to run). mutmut works
in a folder ``mutants/`` beside the sources, so this script runs it in a scratch copy of the checkout,
``.build-mutation/`` (ignored by git, removed by ``make clean``): the work tree stays clean, and a second run
reuses the verdicts of unchanged functions. Then it writes benchmarks/results/mutation.md: the score per
module, the totals for ``distopt_ros/core/algorithms`` and for ``distopt_ros/core``, the date, the commit, the
run time and every surviving mutant with its diff; mutants judged equivalent (no test can tell them apart
from the original) are listed in ``EQUIVALENT`` below with the reason, and the score is also given
without them.

Usage (from the repository root, inside scripts/env.sh's environment):

    python scripts/mutation_score.py                      # run on all of distopt_ros/core, then report
    python scripts/mutation_score.py --only algorithms    # mutate only distopt_ros/core/algorithms
    python scripts/mutation_score.py --only algorithms --recheck   # after adding tests: re-run the survivors
    python scripts/mutation_score.py --report-only        # rewrite the table from the last run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".build-mutation"
OUT = ROOT / "benchmarks" / "results" / "mutation.md"
COPIED = ("distopt_ros", "test", "setup.cfg", "pytest.ini", "package.xml")
CORE = "distopt_ros/core"
ALGORITHMS = "distopt_ros/core/algorithms"

# mutmut's exit-code verdicts (mutmut.stats.status_by_exit_code), folded into what the table counts.
KILLED_CODES = {1, 3}
TIMEOUT_CODES = {-24, 24, 152, 255, 36}
SURVIVED_CODES = {0}
NO_TESTS_CODES = {5, 33}
UNCHECKED_CODES = {None, 2, 34}

EQUIVALENT: dict[str, str] = {
    # mutant name -> why no test can distinguish it from the original (kept short; reviewed by hand).
}
"""Surviving mutants that are equivalent to the original code, with the reason."""


def _run_env() -> dict[str, str]:
    """The environment of the mutmut run: no ROS install space on the path (its installed copy of distopt_ros
    would shadow the mutated one) and the conftest told that ROS is absent on purpose."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                        if p and ".build" not in p)
    env["DISTOPT_ALLOW_NO_ROS"] = "1"
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def prepare() -> None:
    """Refresh the scratch copy's sources and tests from the checkout (mutmut's own state is kept)."""
    WORK.mkdir(exist_ok=True)
    for name in COPIED:
        src, dst = ROOT / name, WORK / name
        if dst.is_dir():
            shutil.rmtree(dst)
        elif dst.exists():
            dst.unlink()
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dst)


def run_mutmut(only: str | None, max_children: int, recheck: bool = False) -> float:
    """``mutmut run`` in the scratch copy; returns the wall time in seconds.

    mutmut keeps the verdict of a mutant whose function did not change, unless the mutant is named on its command
    line. ``only`` names every mutant under that folder (all are run again); ``recheck`` names only the mutants
    not killed last time (after tests were added), so the killed ones are not run twice.
    """
    args = [shutil.which("mutmut") or "mutmut", "run", "--max-children", str(max_children)]
    if recheck:
        scope = only or CORE
        names = [name for path, verdicts in load_verdicts().items() if path.startswith(scope + "/")
                 for name, code in verdicts.items() if classify(code) not in ("killed", "timeout")]
        if not names:
            return 0.0
        args += names
    elif only:
        args.append(f"{only.replace('/', '.')}.*")
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=WORK, env=_run_env())
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"mutation_score: mutmut run failed with exit code {proc.returncode}")
    last = WORK / "last_run.json"
    runs = json.loads(last.read_text()).get("runs", []) if last.exists() and recheck else []
    runs.append({"seconds": round(elapsed, 1), "only": only or CORE, "recheck": recheck,
                 "mutants_named": len(args) - 4 if recheck else None})
    last.write_text(json.dumps({"seconds": sum(r["seconds"] for r in runs), "only": only or CORE,
                                "max_children": max_children, "runs": runs}))
    return elapsed


def load_verdicts() -> dict[str, dict[str, int | None]]:
    """Per mutated source file (path relative to the checkout), mutant name -> mutmut exit code."""
    out: dict[str, dict[str, int | None]] = {}
    base = WORK / "mutants"
    for meta in sorted(base.glob(f"{CORE}/**/*.py.meta")):
        data = json.loads(meta.read_text())
        out[str(meta.relative_to(base))[: -len(".meta")]] = data.get("exit_code_by_key", {})
    return out


def classify(code: int | None) -> str:
    if code in KILLED_CODES:
        return "killed"
    if code in TIMEOUT_CODES:
        return "timeout"
    if code in SURVIVED_CODES:
        return "survived"
    if code in NO_TESTS_CODES:
        return "no tests"
    if code in UNCHECKED_CODES:
        return "not checked"
    return "suspicious"


def tally(verdicts: dict[str, int | None]) -> Counter[str]:
    return Counter(classify(code) for code in verdicts.values())


def score(c: Counter[str], equivalent: int = 0) -> tuple[int, int, float]:
    """(killed, checked, percent): killed counts timeouts; checked leaves out unchecked and equivalent mutants."""
    killed = c["killed"] + c["timeout"]
    checked = sum(v for k, v in c.items() if k != "not checked") - equivalent
    return killed, checked, (100.0 * killed / checked if checked else float("nan"))


def diff_of(name: str) -> str:
    proc = subprocess.run([shutil.which("mutmut") or "mutmut", "show", name], cwd=WORK, env=_run_env(),
                          capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("+", "-")) and not ln.startswith(("+++", "---"))]
    return "\n".join(lines[:6])


def git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip()


def report(with_diffs: bool = True) -> str:
    """Write benchmarks/results/mutation.md from the last run and return its text."""
    files = load_verdicts()
    if not files:
        sys.exit("mutation_score: no mutmut results in .build-mutation/mutants (run without --report-only first)")
    last = json.loads((WORK / "last_run.json").read_text()) if (WORK / "last_run.json").exists() else {}
    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--", "distopt_ros", "test") else ""
    lines = [
        "# Mutation testing of distopt_ros/core",
        "",
        "Written by `scripts/mutation_score.py` (`make mutation`): mutmut "
        f"{_mutmut_version()}, settings in setup.cfg `[mutmut]`; each mutant runs the fast core tests that cover "
        "the mutated function. Killed counts timeouts; the score is killed / checked (mutants never run are left "
        "out); \"without equivalents\" also leaves out the mutants listed as equivalent below.",
        "",
        f"* date: {dt.date.today().isoformat()}",
        f"* commit: {git('rev-parse', '--short', 'HEAD') or 'unknown'}{dirty}",
        f"* last run: mutated `{last.get('only', '?')}`, {last.get('max_children', '?')} worker(s), "
        f"{last.get('seconds', float('nan')) / 60:.1f} min in all"
        + "".join(f"; {'re-check of the survivors' if r['recheck'] else 'full run'} {r['seconds'] / 60:.1f} min"
                  for r in last.get("runs", [])),
        "",
        "| module | mutants | killed | timeout | survived | no tests | not checked | score |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[str, Counter[str]] = {ALGORITHMS: Counter(), CORE: Counter()}
    equivalent_in = Counter()
    survivors: list[tuple[str, str, str]] = []
    for path, verdicts in files.items():
        c = tally(verdicts)
        for group in groups:
            if path.startswith(group + "/"):
                groups[group] += c
        for name, code in sorted(verdicts.items()):
            if classify(code) in ("survived", "no tests", "suspicious"):
                survivors.append((path, name, classify(code)))
                if name in EQUIVALENT:
                    for group in groups:
                        if path.startswith(group + "/"):
                            equivalent_in[group] += 1
        if sum(c.values()) and c["not checked"] < sum(c.values()):
            k, n, pct = score(c)
            lines.append(f"| `{path}` | {sum(c.values())} | {c['killed']} | {c['timeout']} | {c['survived']} | "
                         f"{c['no tests']} | {c['not checked']} | {pct:.1f} % ({k}/{n}) |")
    lines += ["", "| total | killed / checked | score | without equivalents |", "|---|---|---|---|"]
    for group, c in groups.items():
        k, n, pct = score(c)
        ke, ne, pcte = score(c, equivalent_in[group])
        lines.append(f"| `{group}` | {k} / {n} | {pct:.1f} % | {pcte:.1f} % ({ke}/{ne}) |")
    lines += ["", "## Surviving mutants", "",
              "Grouped by function (`mutmut show NAME` in .build-mutation/ prints a mutant's diff); equivalent ones "
              "are marked with the reason.", ""]
    if not survivors:
        lines.append("None.")
    by_function: dict[str, list[tuple[str, str]]] = {}
    for _path, name, verdict in survivors:
        function, _, number = name.rpartition("__mutmut_")
        by_function.setdefault(function, []).append((number, verdict))
    for function, items in by_function.items():
        numbers = ", ".join(f"{n}{'' if v == 'survived' else ' (' + v + ')'}" for n, v in items)
        lines.append(f"* `{function}` ({len(items)}): {numbers}")
        for n, _v in items:
            why = EQUIVALENT.get(f"{function}__mutmut_{n}")
            if why:
                lines.append(f"  * `__mutmut_{n}` is equivalent: {why}")
            if with_diffs:
                d = diff_of(f"{function}__mutmut_{n}")
                if d:
                    lines += ["", "  ```diff", *("  " + ln for ln in d.splitlines()), "  ```"]
    text = "\n".join(lines) + "\n"
    OUT.write_text(text)
    for group, c in groups.items():
        k, n, pct = score(c)
        print(f"mutation score {group}: {k}/{n} = {pct:.1f} %")
    return text


def _mutmut_version() -> str:
    try:
        from importlib.metadata import version

        return version("mutmut")
    except Exception:  # only for the table header
        return "3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("algorithms",), help="mutate only distopt_ros/core/algorithms")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutmut workers (default 1)")
    parser.add_argument("--report-only", action="store_true", help="rewrite the table from the last run")
    parser.add_argument("--recheck", action="store_true",
                        help="run again only the mutants not killed last time (after adding tests)")
    parser.add_argument("--no-diffs", action="store_true", help="list survivors without their diffs")
    args = parser.parse_args()
    if not args.report_only:
        prepare()
        only = ALGORITHMS if args.only == "algorithms" else None
        run_mutmut(only, args.max_children, recheck=args.recheck)
    report(with_diffs=not args.no_diffs)


if __name__ == "__main__":
    main()
