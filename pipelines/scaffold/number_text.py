"""Numbers as a spec shows them, in its values and its comments."""

from __future__ import annotations

from typing import Any

import numpy as np


def fmt(value: Any, digits: int = 6) -> str:
    """A number as YAML text that reads back as the same type, `digits` decimals at most
    (floats keep a dot when `digits` is 6): the values in the spec and in its comments."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number)}.0" if digits == 6 else str(int(number))
    if 1e-4 <= abs(number) < 1e15:
        return np.format_float_positional(number, precision=digits, unique=True, trim="-")
    mantissa, exponent = f"{number:.{digits - 1}e}".split("e")
    return f"{mantissa if '.' in mantissa else mantissa + '.0'}e{exponent}"
