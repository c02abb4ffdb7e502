"""JSON lines: strict JSON whatever the values (NaN, infinities, numpy scalars)."""

from __future__ import annotations

import json

import numpy as np

from ecglm_cli.output import to_json_line


def test_plain_rows_and_awkward_values_give_strict_json():
    plain = {"id": "a", "p": {"NORM": 0.5}, "leads": ["I", "II"]}
    assert json.loads(to_json_line(plain)) == plain
    awkward = {"x": float("nan"), "y": [np.float32(1.5), float("inf")], "n": np.int64(3),
               "nested": {1: np.nan}}
    line = to_json_line(awkward)
    assert "NaN" not in line and "Infinity" not in line
    assert json.loads(line) == {"x": None, "y": [1.5, None], "n": 3, "nested": {"1": None}}
