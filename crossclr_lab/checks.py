"""Argument checks shared by every layer: each returns the value (converted) or raises a ``ValueError`` that
names the argument, the allowed range and the value given, plus an optional ``hint`` (what a special value means,
or what to do). Every library function checks its arguments through these, so the messages read alike."""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Iterable


def _hint(hint: str) -> str:
    return f" ({hint})" if hint else ""


def check_positive(name: str, value, hint: str = "") -> float:
    """``float(value)``; ``ValueError`` unless it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number > 0{_hint(hint)}, got {value!r}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0{_hint(hint)}, got {value}")
    return float(value)


def check_number(name: str, value, minimum: float | None = None, below: float | None = None, *,
                 above: float | None = None, maximum: float | None = None, hint: str = "") -> float:
    """``float(value)``; ``ValueError`` unless it is a finite real number (not a bool) with ``value >= minimum``,
    ``value < below``, ``value > above`` and ``value <= maximum`` (each bound when given)."""
    limits = ((">=", minimum), (">", above), ("<", below), ("<=", maximum))
    bounds = " and ".join(f"{op} {b:g}" for op, b in limits if b is not None)
    wanted = f"a finite number{' ' + bounds if bounds else ''}{_hint(hint)}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    if ((minimum is not None and value < minimum) or (below is not None and value >= below)
            or (above is not None and value <= above) or (maximum is not None and value > maximum)):
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return float(value)


def check_int(name: str, value, minimum: int = 0, hint: str = "") -> int:
    """``int(value)``; ``ValueError`` unless it is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}{_hint(hint)}, got {value!r}")
    return int(value)


def check_choice(name: str, value, choices: Iterable, hint: str = ""):
    """``value``; ``ValueError`` listing the choices unless it is one of them."""
    choices = list(choices)
    bool_for_number = isinstance(value, bool) and not any(isinstance(c, bool) for c in choices)   # True == 1
    if bool_for_number or value not in choices:
        raise ValueError(f"{name} must be one of {choices}{_hint(hint)}, got {value!r}")
    return value


def check_bool(name: str, value, hint: str = "") -> bool:
    """``value``; ``ValueError`` unless it is ``True`` or ``False`` (not 1, 0 or a string)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False{_hint(hint)}, got {value!r}")
    return value


def check_folder_path(name: str, value: str | os.PathLike) -> Path:
    """``Path(value)``; ``ValueError`` when it exists and is not a folder (a file where a folder is wanted)."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {str(path)!r} is a file, not a folder: pass a folder (it is created when missing)")
    return path
