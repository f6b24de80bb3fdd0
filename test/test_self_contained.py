"""The repository documents itself: no tracked file points at a document outside it.

The project's own reference is docs/algorithms.md, cited by section title; papers are cited
by authors, title and year. Refused: the external algorithm notes and the shared folder beside the repository, bare
section numbers and labels a reader of this repository cannot look up.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# ``algorithms.md`` is fine as a file of this repository (docs/algorithms.md,
# benchmarks/results/algorithms.md, or a path component in code); in capitals it is the
# external document.
FORBIDDEN = re.compile(
    r"(?-i:ALGORITHM[S]\.md)|(?<!docs/)(?<!results/)(?<![\"'])algorithms\.md"
    r"|\.\./share[d]|section [0-9]|seed 00[0-9]|T2b|Alg\. [0-9]",
    re.IGNORECASE,
)


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout (or git is missing)")
    return [ROOT / name for name in out.decode().split("\0") if name]


def _text(path: Path) -> str | None:
    """The file's text, or None for a binary (or vanished) file."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def test_the_pattern_catches_external_references_and_spares_our_own():
    external = "ALGORITHM" + "S.md"  # spelled in pieces so this file names nothing outside the repository
    for bad in (f"see {external}", "../" + "shared/" + external, "(section 3.1)", "Section 10", "seed 003's",
                "T2b", "Alg. 2", "docs/" + external, "algorithms.md section"):
        assert FORBIDDEN.search(bad), bad
    for good in ('docs/algorithms.md, "Relaxed (edge) consensus ADMM"', "benchmarks/results/algorithms.md",
                 'ROOT / "results" / "algorithms.md"', "T1 of the small reference problems", "sections of a file"):
        assert not FORBIDDEN.search(good), good


def test_no_tracked_text_file_refers_outside_the_repository():
    me = Path(__file__).resolve()
    hits = []
    for path in _tracked_files():
        if path.resolve() == me:
            continue
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = FORBIDDEN.search(line)
            if match:
                hits.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} in {line.strip()[:100]}")
    assert not hits, ("cite docs/algorithms.md by section title instead:\n" + "\n".join(hits))
