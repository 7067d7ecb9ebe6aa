"""The shell blocks of the README and the user guide, as a new user would copy them.

A ```bash block runs as it stands against the local cluster unless the line just before it
is `<!-- doc-test: skip (WHY) -->`; `<!-- doc-test: output-contains TEXT -->` adds that its
output must contain TEXT. Blocks run in document order, each with `bash -euo pipefail`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", REPO / "docs" / "user-guide.md"]

_MARKER = re.compile(r"^<!-- doc-test: (skip|output-contains) (.+?) -->$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    script: str
    skip: str | None = None  # why it cannot run here
    output_contains: str | None = None

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```bash":
            start = i
            body: list[str] = []
            i += 1
            while lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            marker = _MARKER.match(lines[start - 1].strip()) if start else None
            kind, value = marker.groups() if marker else (None, None)
            found.append(
                Block(
                    path,
                    start + 1,
                    "\n".join(body) + "\n",
                    skip=value if kind == "skip" else None,
                    output_contains=value if kind == "output-contains" else None,
                )
            )
        i += 1
    return found


def markers(path: Path) -> list[tuple[int, str]]:
    """Every doc-test marker with its line, to check none is stray (not before a block)."""
    return [
        (n, line) for n, line in enumerate(path.read_text().splitlines(), 1) if "doc-test:" in line
    ]
