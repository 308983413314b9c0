"""Float pre-training on the host: train :class:`FloatNet`, then fold BatchNorm for deployment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from explore.fqt.layers import FloatNet, float_forward, fold_batchnorm, init_variables
from explore.fqt.model import FloatModel
from explore.fqt.spec import ModelSpec, check_dataset
from explore.errors import BadInput


@dataclass(frozen=True)
class PretrainResult:
    """The folded model and one ``{"epoch", "loss", "val_accuracy"}`` record per epoch."""

    model: FloatModel
    history: list[dict] = field(default_factory=list)


def _make_step(net: FloatNet, tx: optax.GradientTransformation) -> Callable:
    def loss_fn(params, batch_stats, xb, yb):
        logits, updates = net.apply({"params": params, "batch_stats": batch_stats}, xb,
                                    train=True, mutable=["batch_stats"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        return loss, updates.get("batch_stats", {})

    @jax.jit
    def step(params, batch_stats, opt_state, xb, yb):
        (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch_stats, xb, yb)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), batch_stats, opt_state, loss

    return step


def _check_hyper(epochs: int, batch_size: int, lr: float) -> None:
    if epochs < 1:
        raise BadInput(f"epochs must be at least 1, got {epochs}")
    if batch_size < 1:
        raise BadInput(f"batch_size must be at least 1, got {batch_size}")
    if not lr > 0:
        raise BadInput(f"lr must be positive, got {lr}")


def pretrain_float(spec: ModelSpec, x_train: Any, y_train: Any, *, epochs: int = 30, batch_size: int = 64,
                   lr: float = 3e-3, seed: int = 0, x_val: Any = None, y_val: Any = None) -> PretrainResult:
    """Train the float network with Adam on softmax cross-entropy; deterministic for a seed."""
    _check_hyper(epochs, batch_size, lr)
    x_train, y_train = check_dataset(spec, x_train, y_train, "x_train", "y_train")
    if (x_val is None) != (y_val is None):
        raise BadInput("x_val and y_val must be given together")
    if x_val is not None:
        x_val, y_val = check_dataset(spec, x_val, y_val, "x_val", "y_val")

    net = FloatNet(spec)
    variables = init_variables(spec, seed)
    params, batch_stats = variables["params"], variables.get("batch_stats", {})
    tx = optax.adam(lr)
    opt_state = tx.init(params)
    step = _make_step(net, tx)
    rng = np.random.default_rng(seed)
    n = x_train.shape[0]
    # Full batches only: one compiled shape, and no tiny tail batch to skew BatchNorm statistics.
    # Reshuffling every epoch means every sample is still seen.
    batch = min(batch_size, n)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(n)
        losses = []
        for start in range(0, n - batch + 1, batch):
            idx = order[start:start + batch]
            params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state,
                                                        x_train[idx], y_train[idx])
            losses.append(loss)
        record = {"epoch": epoch + 1, "loss": float(jnp.mean(jnp.stack(losses))), "val_accuracy": None}
        if x_val is not None:
            folded = fold_batchnorm(spec, {"params": params, "batch_stats": batch_stats})
            record["val_accuracy"] = accuracy(folded, x_val, y_val)
        history.append(record)
    model = fold_batchnorm(spec, {"params": params, "batch_stats": batch_stats})
    return PretrainResult(model=model, history=history)


def accuracy(model: FloatModel, x: Any, y: Any, batch_size: int = 512) -> float:
    """Top-1 accuracy of the folded ``model`` (via :func:`float_forward`) on ``(x, y)``."""
    x, y = check_dataset(model.spec, x, y, "x", "y")
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        logits = float_forward(model, x[start:start + batch_size])
        correct += int(np.sum(np.asarray(jnp.argmax(logits, axis=-1)) == y[start:start + batch_size]))
    return correct / x.shape[0]
