"""Argument checks shared by every layer: each returns the value (converted) or raises a ``ValueError`` that
names the argument, the allowed range and the value given."""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Iterable


def check_positive(name: str, value) -> float:
    """``float(value)``; ``ValueError`` unless it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def check_number(name: str, value, minimum: float | None = None, below: float | None = None) -> float:
    """``float(value)``; ``ValueError`` unless it is finite, ``>= minimum`` and ``< below`` (each when given)."""
    bounds = " and ".join(f"{op} {b:g}" for op, b in ((">=", minimum), ("<", below)) if b is not None)
    wanted = f"a finite number{' ' + bounds if bounds else ''}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    if (minimum is not None and value < minimum) or (below is not None and value >= below):
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return float(value)


def check_int(name: str, value, minimum: int = 0) -> int:
    """``int(value)``; ``ValueError`` unless it is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name: str, value, choices: Iterable):
    """``value``; ``ValueError`` listing the choices unless it is one of them."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_folder_path(name: str, value: str | os.PathLike) -> Path:
    """``Path(value)``; ``ValueError`` when it exists and is not a folder (a file where a folder is wanted)."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a file, not a folder: pass a folder (it is created when missing)")
    return path
