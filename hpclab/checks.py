"""One way to check the arguments of every hpclab function.

A wrong *type* raises TypeError, a wrong *value* raises ValueError, and every message
names the argument, what it must be, an example of a good value and what was given:

    >>> integer("batch_size", 0, example=64)
    ValueError: batch_size must be an integer >= 1, e.g. batch_size=64; got 0

Python and NumPy numbers are both accepted (``np.int64(4)`` is an integer); ``bool`` is
not a number here, and NaN or infinity is never a valid value.
"""

from __future__ import annotations

import math
import numbers


def _example(name: str, example) -> str:
    return "" if example is None else f", e.g. {name}={example!r}"


def _described(kind: str, low, high, low_op: str, high_op: str) -> str:
    """'an integer >= 1 and <= 9': the kind of value and its bounds, for messages."""
    bounds = [f"{op} {bound:g}" if isinstance(bound, float) else f"{op} {bound}"
              for op, bound in ((low_op, low), (high_op, high)) if bound is not None]
    return kind + (" " + " and ".join(bounds) if bounds else "")


def integer(name: str, value, *, minimum: int | None = 1, maximum: int | None = None,
            example=None) -> int:
    """Return ``value`` as an int in [minimum, maximum] (a bound of None is open)."""
    what = _described("an integer", minimum, maximum, ">=", "<=")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {what}{_example(name, example)}; got {value!r} "
                        f"({type(value).__name__})")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {what}{_example(name, example)}; got {value!r}")
    return value


def number(name: str, value, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, example=None) -> float:
    """Return ``value`` as a finite float in the interval low..high.

    ``low_open``/``high_open`` exclude the bound itself: number("lr", x, low=0, low_open=True)
    asks for lr > 0.
    """
    what = _described("a finite number", low, high, ">" if low_open else ">=", "<" if high_open else "<=")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {what}{_example(name, example)}; got {value!r} "
                        f"({type(value).__name__})")
    value = float(value)
    bad = not math.isfinite(value)
    if not bad and low is not None:
        bad = value <= low if low_open else value < low
    if not bad and high is not None:
        bad = value >= high if high_open else value > high
    if bad:
        raise ValueError(f"{name} must be {what}{_example(name, example)}; got {value!r}")
    return value


def fraction(name: str, value, *, include_zero: bool = False, include_one: bool = False,
             example=None) -> float:
    """Return ``value`` as a float in (0, 1); ``include_zero``/``include_one`` close the ends."""
    return number(name, value, low=0.0, high=1.0, low_open=not include_zero,
                  high_open=not include_one, example=example)


def boolean(name: str, value) -> bool:
    """Return ``value`` if it is True or False (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__})")
    return value


def one_of(name: str, value, options) -> object:
    """Return ``value`` if it is one of ``options`` and of its type (1 is not True here)."""
    options = tuple(options)
    if not any(value == o and isinstance(value, type(o)) for o in options):
        listed = ", ".join(repr(o) for o in options)
        error = ValueError if any(isinstance(value, type(o)) for o in options) else TypeError
        raise error(f"{name} must be one of {listed}; got {value!r}")
    return value


def arguments(name: str, value) -> list[str]:
    """Return a list or tuple of command-line arguments as strings (a lone string is refused)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list of command-line arguments, e.g. "
                        f"{name}=['ckpt', 5]; got {value!r}")
    return [str(a) for a in value]
