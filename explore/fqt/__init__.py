"""Fully quantized on-device training (FQT), simulated bit for bit in JAX.

Typical use::

    from explore.fqt import train_on_device, paper_cnn
    result = train_on_device(quantized_model, x_train, y_train, x_test, y_test,
                             trainable=(4, 5), config="uint8", lambda_min=0.5)
"""

from explore.fqt.api import EpochRecord, TrainResult, evaluate, train_on_device
from explore.model.deployable import FloatModel, QuantizedModel, TensorQuant
from explore.model.spec import (Add, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, MaxPool, ModelSpec,
                              paper_cnn)

__all__ = [
    "Add", "AvgPool", "Conv", "Dense", "EpochRecord", "Flatten", "FloatModel", "GlobalAvgPool", "MaxPool",
    "ModelSpec", "QuantizedModel", "TensorQuant", "TrainResult", "evaluate", "paper_cnn", "train_on_device",
]
