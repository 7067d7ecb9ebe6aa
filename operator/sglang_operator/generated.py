"""Files generated from the code and committed to the checkout: the CRD, docs/api.md and
docs/reference.md. Each is a render function and its place in the checkout;
`sglang-operator crd|api-docs|reference-docs` writes it, and a unit test regenerates it and
fails when the committed copy differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class GeneratedFile:
    """`render()`'s text, committed at `relative_path` of the checkout."""

    relative_path: str
    render: Callable[[], str]

    @property
    def path(self) -> Path:
        return CHECKOUT / self.relative_path

    def write(self, path: Path | None = None) -> Path:
        """Write the text to `path` (default: its place in the checkout); returns the path."""
        target = path or self.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.render())
        return target


def table_cell(text: str) -> str:
    """`text` as one Markdown table cell: white space folded to single spaces, `|` escaped."""
    return " ".join(text.split()).replace("|", "\\|")
