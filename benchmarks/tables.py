"""Markdown tables of benchmarks/results: read them back, and compare them with rows the code produces now.

A benchmark that writes a table also says which of its columns are a function of the code alone (rounds,
messages, bits, errors of seeded runs) as opposed to the machine's (wall times): test/test_results_drift.py
recomputes those and fails with the rows that differ, so a committed table cannot drift from HEAD.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path


def to_markdown(rows: Sequence[dict[str, str]]) -> str:
    """Rows (dicts with the same keys, in column order) as a markdown pipe table."""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c] for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def read_tables(path: Path | str) -> list[list[dict[str, str]]]:
    """Every pipe table of a markdown file, as rows keyed by the header's cells."""
    tables: list[list[dict[str, str]]] = []
    header: list[str] | None = None
    for line in Path(path).read_text().splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            tables.append([])
        elif set(line.replace("|", "").strip()) <= {"-", ":", " "}:
            continue  # the separator line
        else:
            tables[-1].append(dict(zip(header, cells, strict=False)))
    return tables


def drift(committed: Sequence[dict[str, str]], produced: Iterable[dict[str, str]], key: Sequence[str],
          columns: Sequence[str]) -> list[str]:
    """The differences between ``committed`` and ``produced`` rows (matched by ``key``) in ``columns``, in words.

    A produced row missing from the committed table counts as a difference; committed rows the code did not
    produce are the caller's to judge (a table may hold rows that are not recomputed, such as lossy runs).
    """
    index = {tuple(r.get(k, "") for k in key): r for r in committed}
    out = []
    for row in produced:
        k = tuple(row[c] for c in key)
        old = index.get(k)
        if old is None:
            out.append(f"row {k} is not in the committed table")
            continue
        for c in columns:
            if old.get(c) != row[c]:
                out.append(f"row {k}, column {c!r}: committed {old.get(c)!r}, the code gives {row[c]!r}")
    return out


def replace_between(path: Path | str, begin: str, end: str, text: str) -> None:
    """Put ``text`` between the ``begin`` and ``end`` marker lines of the file at ``path`` (a README's generated
    table), leaving everything else as it is."""
    p = Path(path)
    body = p.read_text()
    head, rest = body.split(begin, 1)
    _, tail = rest.split(end, 1)
    p.write_text(f"{head}{begin}\n{text}\n{end}{tail}")
