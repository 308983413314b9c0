"""On-device training pinned bit for bit to its result before the speed work of issue 16.

``golden/on_device_model.npz`` is a quantized model (depthwise convs, a ReLU6 clamp, a residual add)
that commit 5a9326d built and saved; ``golden/on_device_result.json`` is what 5a9326d's
``train_on_device`` made of it: a SHA-256 of the trained parameters and the whole epoch history, per
configuration.  The depthwise fast path, the compile-once step and the frozen-prefix cache must all
leave these bits alone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from explore.fqt.api import train_on_device
from explore.model.artifacts import load_quantized

GOLDEN = Path(__file__).parent / "golden"


def _data(spec) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(120,) + spec.input_shape).astype(np.float32)
    return x, rng.integers(0, spec.num_classes, 120).astype(np.int32)


def _digest(params: dict[int, dict[str, np.ndarray]]) -> str:
    digest = hashlib.sha256()
    for i in sorted(params):
        for name in sorted(params[i]):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(params[i][name]).tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("config", ["uint8", "mixed", "float32"])
def test_on_device_training_gives_the_bits_it_gave_before(config: str) -> None:
    want = json.loads((GOLDEN / "on_device_result.json").read_text())[config]
    model = load_quantized(GOLDEN / "on_device_model.npz")
    x, y = _data(model.spec)
    result = train_on_device(model, x[:96], y[:96], x[96:], y[96:], trainable=(3, 4, 8, 9), config=config,
                             lambda_min=0.5, lambda_max=1.0, lr=0.05, batch_size=16, epochs=3, seed=2)
    history = [[e.loss, e.train_accuracy, e.test_accuracy, [list(r) for r in sorted(e.update_rates.items())]]
               for e in result.history]
    assert history == want["history"]
    assert result.test_accuracy == want["test_accuracy"]
    assert _digest(result.model.params) == want["sha"]


def test_the_pinned_digest_sees_a_one_code_change() -> None:
    """The digest is not blind: moving one weight code by one changes it."""
    params = load_quantized(GOLDEN / "on_device_model.npz").params
    layer = min(params)
    changed = {i: dict(p) for i, p in params.items()}
    w = changed[layer]["w_q"].copy()
    w.flat[0] = w.flat[0] + 1 if w.flat[0] < 255 else w.flat[0] - 1
    changed[layer]["w_q"] = w
    assert _digest(changed) != _digest(params)
