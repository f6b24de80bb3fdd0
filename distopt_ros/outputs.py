"""Where runners and benchmarks write: only where they are told, never over existing results by surprise.

Nothing writes into the source tree by default: a runner's plots go to a fresh temporary
directory and a benchmark prints its table; ``--out`` names the place, and an existing one
is refused before anything starts unless ``--force`` says to replace it.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_out_arguments(ap: argparse.ArgumentParser, what: str) -> None:
    """``--out PATH`` and ``--force`` on a command line (``what``: what is written there)."""
    ap.add_argument("--out", type=Path, default=None,
                    help=f"where to write {what} (default: print only); an existing path is refused unless --force")
    ap.add_argument("--force", action="store_true", help="replace an existing --out")


def check_out(path: Path | str | None, force: bool) -> Path | None:
    """``path`` if it may be written (absent, or ``force``); ValueError naming it otherwise."""
    if path is None:
        return None
    p = Path(path)
    if p.exists() and not force:
        raise ValueError(f"--out {p} exists; choose a new path or add --force to replace it")
    return p


def out_path(ap: argparse.ArgumentParser, args: argparse.Namespace) -> Path | None:
    """:func:`check_out` for a command line: a refusal is the parser's one-line error (exit 2)."""
    try:
        return check_out(args.out, args.force)
    except ValueError as exc:
        ap.error(str(exc))
        raise  # not reached: ap.error exits


def write_out(path: Path | None, text: str) -> None:
    """Write ``text`` to ``path`` (its directory made), or nothing when no path was given."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"written to {path}")
