"""Fully quantized on-device training (FQT), simulated bit for bit in JAX.

Typical use::

    from explore.fqt import train_on_device
    result = train_on_device(quantized_model, x_train, y_train, x_test, y_test,
                             trainable=(4, 5), config="uint8", lambda_min=0.5)
"""

from explore.fqt.api import EpochRecord, TrainResult, evaluate, train_on_device

__all__ = ["EpochRecord", "TrainResult", "evaluate", "train_on_device"]
