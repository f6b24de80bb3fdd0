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
import ast
import datetime as dt
import difflib
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

_RESHAPE = "numpy (2.x) reads any negative size in reshape as 'the rest', so reshape(-2) is reshape(-1)"
_ZIP = "zip over sequences whose lengths were checked equal just before: strict=True/False/None behave alike"
_EQ: list[tuple[str, str, tuple[int, ...], str]] = [
    # (module, function, mutant numbers, why no test can tell them from the original), reviewed by hand
    ("admm", "xǁConsensusADMMAgentǁ__init__", (31, 32),
     "z and y are both zero at construction, so z - y/rho, z + y/rho and z - y*rho are all 0"),
    ("admm", "xǁRelaxedADMMAgentǁ_update", (50,),
     "the stopper was built with the same tolerance and returns False whenever tolerance <= 0, so "
     "'tolerance >= 0 and ...' is 'tolerance > 0 and ...'"),
    ("admm", "xǁRelaxedADMMAgentǁ_warm_start", (6, 8),
     "message blocks are float64 arrays already: np.array(block) and np.array(block, dtype=float) are the "
     "same copy"),
    ("admm", "xǁRelaxedADMMAgentǁ_warm_start", (9,),
     "PeerState.warm is only read for truthiness (and overwritten by the next pairing): None and False act"
     " alike"),
    ("admm", "xǁRelaxedADMMAgentǁ_welcome", (7, 9),
     "x is always a float64 array (a prox result), so np.asarray(x) and np.asarray(x, dtype=float) are the same"),
    ("aladin", "xǁRCAladinAgentǁ__init__", (37,), _RESHAPE),
    ("aladin", "x_integer_bits", (11,), _RESHAPE),
    ("aladin", "x_quantize_floor", (5, 7),
     "the division by the float Delta makes any numeric input float before floor"),
    ("aladin", "xǁQuantizedAveragerǁ__init__", (46, 49),
     "tokens is a Python int (at_least), so np.full makes an int64 array without the dtype too"),
    ("aladin", "xǁQuantizedAveragerǁemit", (44,),
     "with shared tokens (a swarm-wide setting) every token goes to all coordinates at once, so every coordinate "
     "holds the same count, each cz[k] is 1 after the shared loop and the per-coordinate loop does nothing"),
    ("aladin", "xǁQuantizedAveragerǁabsorb", (14, 16, 20, 22),
     "payload mass and token counts are int64 arrays (or integer lists, which np.asarray makes int64)"),
    ("aladin", "xǁQuantizedAveragerǁabsorb", (33,), "astype(None) is astype(float64)"),
    ("aladin", "xǁQuDRCAladinAgentǁ__init__", (146,),
     "the first exponent of the schedule does not depend on how many are listed"),
    ("aladin", "xǁQuDRCAladinAgentǁ_update", (32, 33),
     "request_stop() on the next line makes Agent.step set converged = True right after _update"),
    ("federated", "xǁFedClientǁ_update", (15, 20), "_message's iteration defaults to self.iteration, the value passed"),
    ("aladin", "x_qudrc_linear_model", (11, 13),
     "a Hessian only enters p + rho I with a float rho, so integer input gives the same float matrices"),
    ("aladin", "x_qudrc_error_gain", (20,), "A is square (N n x N n): a.shape[1] == a.shape[0]"),
    ("aladin", "x_qudrc_level_bound", (10,), "A is square (N n x N n): a.shape[1] == a.shape[0]"),
    ("admm", "x_radmm_optimal_penalty_regular", (20, 22),
     "nodelist=None orders the nodes by insertion, a permutation of range(n): the eigenvalues of A/d do "
     "not change"),
    ("base", "x_check_weight_row", (18,),
     "near 1 the sum's distance to 1 is a multiple of 2^-53 and never equals the double 1e-9, so '>' and "
     "'>=' agree"),
    ("consensus", "xǁAverageConsensusAgentǁ__init__", (13,), _RESHAPE),
    ("consensus", "xǁPushSumAgentǁ__init__", (11,), _RESHAPE),
    ("consensus", "xǁGossipAgentǁ__init__", (13,), _RESHAPE),
    ("consensus", "xǁPushSumAgentǁ_update", (12,),
     "sum() of the in-neighbours' arrays from 0 instead of from a zero vector: y * share + 0 is the same "
     "array, also with no in-neighbour"),
    ("consensus", "x_consensus_swarm", (10, 12),
     "every row goes through as_finite_array (float) in AverageConsensusAgent, so the dtype of vals does "
     "not matter"),
    ("consensus", "x_consensus_swarm", (14,), _RESHAPE),
    ("coupled", "xǁCoupledProblemǁ__post_init__", (28,), _RESHAPE),
    ("coupled", "xǁCoupledProblemǁ__post_init__", (36, 40, 41), _ZIP + " (objectives, A, b: counted at the top)"),
    ("coupled", "xǁCoupledProblemǁsolve", (65, 68, 70, 79, 82, 84), _ZIP + " (split(z) has one block per objective)"),
    ("coupled", "xǁCoupledProblemǁsolve", (111, 114, 115), _ZIP + " (xs = split(res.x): one block per objective)"),
    ("coupled", "xǁCoupledProblemǁsolve", (52, 58),
     "scipy's minimize picks SLSQP itself when there are constraints and no bounds"),
    ("coupled", "xǁCoupledProblemǁsolve", (97,),
     "scipy lower-cases the method name"),
    ("coupled", "xǁCoupledProblemǁsolve", (88,),
     "scipy lower-cases the constraint type"),
    ("coupled", "xǁCoupledProblemǁsolve", (121,),
     "numpy 2's default rcond of lstsq is the rcond=None cut-off (eps * max(M, N))"),
    ("coupled", "xǁCoupledADMMAgentǁ__init__", (33,), _RESHAPE),
    ("coupled", "xǁCoupledADMMAgentǁset_offset", (12,), _RESHAPE),
    ("coupled", "x_coupled_swarm", (43, 47, 48), _ZIP + " (CoupledProblem checked objectives, A and b)"),
    ("coupled", "x_microgrid_problem", (39,),
     "2 / 1.0 == 2 * 1.0"),
    ("federated", "x_heterogeneity", (29, 32, 33, 39, 42, 43, 64, 67, 68, 85, 88, 89),
     _ZIP + " (weights were checked to have one entry per objective)"),
    ("federated", "x_heterogeneity", (52, 56),
     "scipy's minimize picks BFGS itself for a problem without constraints or bounds"),
    ("federated", "x_heterogeneity", (71,),
     "scipy lower-cases the method name"),
    ("federated", "x_fedavg_fixed_point", (3, 5),
     "only products with the float step follow, so integer inputs give the same floats"),
    ("federated", "xǁFedServerǁ__init__", (118,), _RESHAPE),
    ("federated", "xǁFedServerǁ_sample", (3,),
     "without membership changes live_peers is exactly (0, ..., K-1), the tuple the original builds"),
    ("federated", "xǁFedServerǁ_sample", (24,),
     "Generator.choice reads replace for truthiness: None samples without replacement like False"),
    ("federated", "x_project_simplex", (19,),
     "where u_k k == css_k - 1 the two candidate thetas are equal, (css_k - 1)/k = u_k = (css_{k-1} - "
     "1)/(k - 1)"),
    ("gradient", "xǁDGDAgentǁ__init__", (104,), _RESHAPE),
    ("gradient", "xǁTrackingAgentǁ__init__", (43,), _RESHAPE),
    ("gradient", "xǁATCTrackingAgentǁ__init__", (33,),
     "float('INF') is float('inf')"),
    ("price", "x_coupling_support", (5, 7),
     "a != 0.0 is the same test on integer and float matrices"),
    ("price", "xǁBidderAgentǁ__init__", (29,),
     "coupling_support ignores dim when given a matrix, and a_i is always a matrix here"),
    ("price", "xǁAuctioneerAgentǁ__init__", (120,), _RESHAPE),
    ("price", "xǁAuctioneerAgentǁ__init__", (125,),
     "float('NAN') is float('nan')"),
    ("price", "xǁAuctioneerAgentǁset_target", (12,), _RESHAPE),
    ("price", "xǁAuctioneerAgentǁb", (11,), _RESHAPE),
    ("price", "xǁAuctioneerAgentǁ_outgoing", (21,),
     "without membership changes live_peers is exactly (0, ..., N-1), the range the original iterates"),
    ("price", "x_problem_supports", (1, 3),
     "ResourceProblem.matrices holds a matrix for every cost (the identity when A is None), and "
     "coupling_support reads m only without a matrix"),
    ("price", "x_price_swarm", (26, 29, 30), _ZIP + " (ResourceProblem builds one matrix per cost)"),
    ("atg", "xǁATGAgentǁ__init__", (94,), _RESHAPE),
]
EQUIVALENT: dict[str, str] = {f"{ALGORITHMS.replace('/', '.')}.{module}.{function}__mutmut_{n}": why
                              for module, function, numbers, why in _EQ for n in numbers}
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


_FUNCTIONS: dict[str, dict[str, str]] = {}
"""Per mutated file of .build-mutation/mutants, the source of every mutant (and original) function by name."""


def _mutant_functions(module: str) -> dict[str, str]:
    """The functions mutmut wrote into the mutated copy of ``module`` (``distopt_ros.core.x``), by name."""
    if module not in _FUNCTIONS:
        path = WORK / "mutants" / (module.replace(".", "/") + ".py")
        found: dict[str, str] = {}
        if path.exists():
            src = path.read_text()
            text_lines = src.splitlines()
            for node in ast.walk(ast.parse(src)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name:
                    found[node.name] = "\n".join(text_lines[node.lineno - 1:node.end_lineno])
        _FUNCTIONS[module] = found
    return _FUNCTIONS[module]


def diff_of(name: str) -> str:
    """The changed lines of mutant ``name``: read from the mutated sources (what ``mutmut show`` prints, without
    starting a process per mutant), else from ``mutmut show``."""
    module, _, short = name.rpartition(".")
    function, _, _number = short.rpartition("__mutmut_")
    funcs = _mutant_functions(module)
    orig, mutant = funcs.get(function + "__mutmut_orig"), funcs.get(short)
    if orig is not None and mutant is not None:
        mutant = mutant.replace(short, function + "__mutmut_orig", 1)
        lines = [ln for ln in difflib.unified_diff(orig.splitlines(), mutant.splitlines(), lineterm="", n=0)
                 if ln.startswith(("+", "-")) and not ln.startswith(("+++", "---"))]
        return "\n".join(lines[:6])
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
    unchecked: dict[str, list[str]] = {}
    never_run: list[tuple[str, int]] = []
    for path, verdicts in files.items():
        c = tally(verdicts)
        for group in groups:
            if path.startswith(group + "/"):
                groups[group] += c
        if verdicts and all(classify(code) == "not checked" for code in verdicts.values()):
            never_run.append((path, len(verdicts)))
        for name, code in sorted(verdicts.items()):
            if classify(code) == "not checked" and (path, len(verdicts)) not in never_run:
                function, _, number = name.rpartition("__mutmut_")
                unchecked.setdefault(function, []).append(number)
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
        items.sort(key=lambda item: int(item[0]))
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
    if unchecked or never_run:
        lines += ["", "## Mutants not checked", "",
                  "Left out of the scores above. Files none of whose mutants has a verdict (outside the scope of the "
                  "runs, e.g. `--only algorithms`), then the functions of the other files whose mutants the last "
                  "run did not reach:", ""]
        lines += [f"* `{path}`: all {count} mutants" for path, count in never_run]
        for function, numbers in unchecked.items():
            lines.append(f"* `{function}` ({len(numbers)}): {', '.join(sorted(numbers, key=int))}")
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
