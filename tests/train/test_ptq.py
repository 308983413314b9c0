"""PTQ calibration: percentile ranges clip outliers that min/max cannot, never widen a range, keep ReLU
outputs at 0, and quantize a trained network about as well as min/max (much better with outliers)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from explore.data import load_digits_split
from explore.errors import BadInput
from explore.fqt.api import evaluate
from explore.model.spec import Conv, Dense, MaxPool, paper_cnn
from explore.train.pretrain import accuracy, pretrain_float
from explore.train.ptq import HISTOGRAM_BINS, calibration_ranges, quantize_model

OUTLIER = 1000.0


@pytest.fixture(scope="module")
def trained():
    """The paper's small CNN after a short float pre-training on 8x8 digits."""
    split = load_digits_split(seed=0)
    spec = paper_cnn(split.input_shape, split.num_classes)
    model = pretrain_float(spec, split.x_train, split.y_train, epochs=3, seed=0).model
    return split, model


@pytest.fixture(scope="module")
def x_outliers(trained) -> np.ndarray:
    """The training inputs with three pixels set to a huge value (sensor glitches)."""
    split, _ = trained
    x = split.x_train.copy()
    x[0, 3, 4, 0] = x[10, 0, 0, 0] = x[20, 7, 7, 0] = OUTLIER
    return x


@pytest.fixture(scope="module")
def minmax(trained):
    split, model = trained
    return calibration_ranges(model, split.x_train)


def _width(r: tuple[float, float]) -> float:
    return r[1] - r[0]


def test_minmax_is_the_observed_extremes(trained, minmax) -> None:
    split, model = trained
    assert len(minmax) == len(model.spec.layers) + 1
    assert minmax[0] == (float(split.x_train.min()), float(split.x_train.max()))
    assert all(low <= high for low, high in minmax)


def test_percentile_100_equals_minmax(trained, minmax) -> None:
    split, model = trained
    assert calibration_ranges(model, split.x_train, method="percentile", percentile=100.0) == minmax


def test_percentile_close_to_100_matches_minmax_within_a_bin(trained, minmax) -> None:
    # The histogram path (not the p == 100 shortcut) with a tail far below one sample.
    split, model = trained
    near = calibration_ranges(model, split.x_train, method="percentile", percentile=99.99999)
    assert len(near) == len(minmax)
    for t, (p, m) in enumerate(zip(near, minmax)):
        bin_width = _width(m) / HISTOGRAM_BINS
        assert abs(p[0] - m[0]) <= bin_width + 1e-9, (t, p, m)
        assert abs(p[1] - m[1]) <= bin_width + 1e-9, (t, p, m)


def test_percentile_ranges_shrink_with_p_and_stay_inside_minmax(trained, minmax) -> None:
    split, model = trained
    p9999 = calibration_ranges(model, split.x_train, method="percentile", percentile=99.99)
    p99 = calibration_ranges(model, split.x_train, method="percentile", percentile=99.0)
    for t in range(len(minmax)):
        assert minmax[t][0] <= p9999[t][0] <= p99[t][0], (t, minmax[t], p9999[t], p99[t])
        assert p99[t][1] <= p9999[t][1] <= minmax[t][1], (t, minmax[t], p9999[t], p99[t])
    # Clipping really happens somewhere: 99 % drops the top 1 % of every activation tensor.
    assert any(p99[t][1] < minmax[t][1] * 0.95 for t in range(1, len(minmax)))


def test_percentile_clips_input_outliers_and_covers_the_bulk(trained, x_outliers) -> None:
    split, model = trained
    wide = calibration_ranges(model, x_outliers)
    clipped = calibration_ranges(model, x_outliers, method="percentile", percentile=99.9)
    assert wide[0] == (0.0, OUTLIER)
    low, high = clipped[0]
    assert _width(clipped[0]) < _width(wide[0]) / 100, (clipped[0], wide[0])
    # The bulk (every clean pixel, here all in [0, 1]) still lies inside the clipped range.
    clean = split.x_train
    assert low <= clean.min() and high >= clean.max(), (clipped[0], clean.min(), clean.max())
    inside = np.mean((x_outliers >= low) & (x_outliers <= high))
    assert inside >= 0.999 and inside < 1.0
    # Downstream tensors are no wider than min/max, and the first conv is clipped hard as well.
    for t in range(len(wide)):
        assert wide[t][0] <= clipped[t][0] and clipped[t][1] <= wide[t][1], (t, wide[t], clipped[t])
    assert _width(clipped[1]) < _width(wide[1]) / 10, (clipped[1], wide[1])


@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_relu_outputs_start_at_zero(trained, method: str) -> None:
    split, model = trained
    ranges = calibration_ranges(model, split.x_train[:256], method=method, percentile=99.9)
    spec = model.spec
    relu = [i for i, layer in enumerate(spec.layers)
            if isinstance(layer, (Conv, Dense)) and layer.activation == "relu"]
    assert relu == [0, 1, 4]
    for i in relu:
        assert ranges[i + 1][0] == 0.0, (i, ranges[i + 1])
        assert ranges[i + 1][1] > 0.0, (i, ranges[i + 1])
    pool = next(i for i, layer in enumerate(spec.layers) if isinstance(layer, MaxPool))
    assert ranges[pool + 1][0] == 0.0
    assert ranges[-1][0] < 0.0 < ranges[-1][1]  # logits: no activation


@pytest.mark.parametrize(("kwargs", "names"), [
    ({"method": "entropy"}, ["'entropy'", "minmax", "percentile"]),
    ({"method": "MinMax"}, ["'MinMax'"]),
    ({"method": "percentile", "percentile": 50.0}, ["percentile = 50.0", "(50, 100]"]),
    ({"method": "percentile", "percentile": 100.5}, ["percentile = 100.5"]),
    ({"method": "percentile", "percentile": -1}, ["percentile = -1"]),
    ({"method": "percentile", "percentile": math.nan}, ["percentile = nan"]),
    ({"method": "minmax", "percentile": 120.0}, ["percentile = 120.0"]),
])
def test_bad_method_or_percentile(trained, kwargs: dict, names: list[str]) -> None:
    split, model = trained
    for call in (calibration_ranges, quantize_model):
        with pytest.raises(BadInput) as info:
            call(model, split.x_train[:8], **kwargs)
        message = str(info.value)
        assert "\n" not in message
        for name in names:
            assert name in message, (call.__name__, name, message)


def test_percentile_ptq_accuracy_is_close_to_minmax(trained) -> None:
    split, model = trained
    float_acc = accuracy(model, split.x_test, split.y_test)
    q_minmax = quantize_model(model, split.x_train)
    q_pct = quantize_model(model, split.x_train, method="percentile", percentile=99.99)
    acc_minmax = evaluate(q_minmax, split.x_test, split.y_test, "uint8")
    acc_pct = evaluate(q_pct, split.x_test, split.y_test, "uint8")
    print(f"float {float_acc:.3f}, uint8 minmax {acc_minmax:.3f}, uint8 percentile {acc_pct:.3f}")
    assert float_acc > 0.8, "the short pre-training should already classify digits"
    assert abs(acc_minmax - float_acc) <= 0.05
    assert abs(acc_pct - acc_minmax) <= 0.05
    # Same static scheme, only the ranges differ: ReLU tensors keep zero point 0, and no activation
    # scale grows under percentile calibration.
    for i, layer in enumerate(model.spec.layers):
        if getattr(layer, "activation", None) == "relu":
            assert q_pct.act_quant[i].zero == 0 == q_minmax.act_quant[i].zero, i
        assert q_pct.act_quant[i].scale <= q_minmax.act_quant[i].scale * (1 + 1e-6), i


def test_percentile_ptq_survives_outliers_that_break_minmax(trained, x_outliers) -> None:
    split, model = trained
    q_minmax = quantize_model(model, x_outliers)
    q_pct = quantize_model(model, x_outliers, method="percentile", percentile=99.9)
    # min/max spends the whole uint8 input range on one glitch: every real pixel becomes 0 or 1.
    assert q_minmax.input_quant.scale > 3.0
    assert q_pct.input_quant.scale < q_minmax.input_quant.scale / 100
    acc_minmax = evaluate(q_minmax, split.x_test, split.y_test, "uint8")
    acc_pct = evaluate(q_pct, split.x_test, split.y_test, "uint8")
    print(f"with outliers: uint8 minmax {acc_minmax:.3f}, uint8 percentile {acc_pct:.3f}")
    assert acc_pct > 0.8
    assert acc_pct > acc_minmax + 0.3
