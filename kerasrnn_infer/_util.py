"""Small helpers shared by the engine, the harness and the command line."""

from __future__ import annotations

from typing import Any, List


def as_list(x: Any) -> List[Any]:
    """``x`` as a list: a list or tuple's items, else ``[x]``."""
    return list(x) if isinstance(x, (list, tuple)) else [x]
