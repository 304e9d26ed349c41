import math

import numpy as np
import pytest

from hpclab import checks


def test_integer_accepts_python_and_numpy_integers():
    assert checks.integer("n", 3) == 3
    assert checks.integer("n", np.int64(3)) == 3 and type(checks.integer("n", np.int32(2))) is int


@pytest.mark.parametrize("value", [2.0, "2", True, None, np.float32(2)])
def test_integer_wrong_type_is_a_type_error_naming_the_argument(value):
    with pytest.raises(TypeError, match=r"n must be an integer >= 1, e.g. n=4; got"):
        checks.integer("n", value, example=4)


def test_integer_bounds_are_value_errors():
    with pytest.raises(ValueError, match=r"n must be an integer >= 1; got 0"):
        checks.integer("n", 0)
    with pytest.raises(ValueError, match=r">= 0 and <= 9"):
        checks.integer("level", 10, minimum=0, maximum=9)
    assert checks.integer("w", 0, minimum=0) == 0


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0.0, -1])
def test_number_rejects_nan_inf_and_out_of_range(value):
    with pytest.raises(ValueError, match="power must be a finite number > 0"):
        checks.number("power", value, low=0, low_open=True)


def test_number_and_fraction():
    assert checks.number("x", np.float32(0.5)) == 0.5
    with pytest.raises(TypeError):
        checks.number("x", "0.5")
    assert checks.fraction("f", 0.25) == 0.25
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"f must be a finite number > 0 and < 1"):
            checks.fraction("f", bad)
    assert checks.fraction("f", 0.0, include_zero=True) == 0.0


def test_boolean_and_one_of():
    assert checks.boolean("b", False) is False
    with pytest.raises(TypeError, match="b must be True or False; got 1"):
        checks.boolean("b", 1)
    assert checks.one_of("mode", "int8", ("int8", "float16")) == "int8"
    with pytest.raises(ValueError, match="mode must be one of 'int8', 'float16'; got 'int4'"):
        checks.one_of("mode", "int4", ("int8", "float16"))
    with pytest.raises(TypeError, match="flag must be one of True, False; got 1"):
        checks.one_of("flag", 1, (True, False))  # 1 == True, but it is not a boolean
    assert checks.one_of("mode", np.str_("int8"), ("int8",)) == "int8"


def test_arguments():
    assert checks.arguments("args", ("ckpt", 5)) == ["ckpt", "5"]
    for bad in ("ckpt 5", b"ckpt", 5, None):
        with pytest.raises(TypeError, match=r"args must be a list of command-line arguments, "
                                            r"e.g. args=\['ckpt', 5\]"):
            checks.arguments("args", bad)
