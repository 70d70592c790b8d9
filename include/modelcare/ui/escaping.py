"""The two text helpers every Registry page fragment uses: escaped text and a metric with four decimals."""

from __future__ import annotations

import html
from typing import Any


def esc(value: Any) -> str:
    """HTML-escaped text of anything from the registry, a record or a config (``-`` for None)."""
    return html.escape("-" if value is None else str(value))


def fmt(value: float | None) -> str:
    """A metric value with four decimals (``-`` for None)."""
    return "-" if value is None else f"{value:.4f}"
