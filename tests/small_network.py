"""A small network with everything that makes quantization reach the FQT step (a ReLU6 clamp, a
residual add, ReLU masks, a depthwise conv), and random samples for it; shared by the compile and
frozen-prefix tests."""

from __future__ import annotations

import numpy as np

from explore.model.spec import Add, AvgPool, Conv, Dense, GlobalAvgPool, ModelSpec


def residual_spec() -> ModelSpec:
    """The residual add (3) reads layer 0, so a cut at 2 is crossed by its skip."""
    return ModelSpec((12, 2), 4, (
        Conv(6, (3,)),                                     # 0
        Conv(6, (3,), depthwise=True, activation="relu6"),  # 1
        Conv(6, (1,), activation="none"),                  # 2
        Add(skip=0, activation="relu"),                    # 3
        AvgPool((2,)),                                     # 4
        GlobalAvgPool(),                                   # 5
        Dense(8, activation="relu6"),                      # 6
        Dense(4),                                          # 7
    ))


def random_samples(spec: ModelSpec, n: int, seed: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` normal samples times ``scale`` and uniform labels, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    x = (scale * rng.normal(size=(n,) + spec.input_shape)).astype(np.float32)
    return x, rng.integers(0, spec.num_classes, n).astype(np.int32)
