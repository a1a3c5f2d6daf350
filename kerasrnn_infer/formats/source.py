"""What reading a file gives: the config (JSON text checked against the bounds while it
crosses from the reader, then parsed), the writing Keras version and the weights, in the
file's own store (each store knows how to give a built model its weights)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .. import limits
from ..errors import ModelFileError


@dataclass
class Source:
    path: str
    format: str             # "keras-zip", "legacy-h5", "legacy-weights", "keras3-weights"
    config: Any             # the parsed config (JSON text while it crosses from the reader)
    keras_version: Optional[str]
    weights: Any            # the format's store: .assign(model root, path)


def config_text(data: bytes, path: str, what: str) -> bytes:
    """A config's JSON text, checked against the bounds (limits) where it is read; it is
    parsed later, by the caller's process, so that only bytes cross from the reader."""
    try:
        limits.check_json_text(data)
    except limits.JSONBoundError as e:
        raise ModelFileError(f"{path}: {what} {e}") from None
    return data
