"""Selecting runs and rows by their labels: the one filter rule of the study.

A wanted value matches a label when it equals it; a float (a learning rate) matches to rounding; a list, tuple or
set matches any of its values; None matches anything. `plans.select` filters planned runs with it, `rows_where`
the frames of `study.frames` (claims, verdicts, notebooks), and the explorer's `choose` the store's long frame.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

_MANY = (list, tuple, set, frozenset)


def matches(value: Any, wanted: Any) -> bool:
    """Whether one label `value` is what `wanted` asks for (see the module docstring)."""
    if wanted is None:
        return True
    if isinstance(wanted, _MANY):
        return any(matches(value, w) for w in wanted)
    if isinstance(wanted, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.isclose(value, wanted, rel_tol=1e-9, abs_tol=1e-12)
    return value == wanted


def labels_match(labels: Mapping[str, Any], **wanted: Any) -> bool:
    """Whether a run's `labels` match every `wanted` item (a label the run lacks matches only None)."""
    return all(matches(labels.get(key), value) for key, value in wanted.items())


def rows_where(frame, **wanted: Any):
    """The rows of a DataFrame whose columns match every `wanted` item, e.g. `rows_where(final, study="loss")`."""
    import numpy as np  # startup: plans use `labels_match` and stay free of numpy and pandas

    for key, value in wanted.items():
        if value is None:
            continue
        if isinstance(value, _MANY):
            frame = frame[frame[key].isin(list(value))]
        elif isinstance(value, float):
            frame = frame[np.isclose(frame[key], value)]
        else:
            frame = frame[frame[key] == value]
    return frame
