"""Float pre-training on the host: train :class:`FloatNet`, then fold BatchNorm for deployment."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from explore.campaign.preflight import training_steps  # one count of float training steps, checked before runs
from explore.fqt.api import EVAL_BATCH, compile_ahead, pad_batch
from explore.train.floatnet import FloatNet, float_forward, fold_batchnorm, init_variables
from explore.model.deployable import FloatModel
from explore.model.spec import ModelSpec, check_dataset
from explore.errors import BadInput
from explore.train.agp import AGPSchedule, ones_like_masks, update_masks


@dataclass(frozen=True)
class PretrainResult:
    """The folded model, one ``{"epoch", "loss", "val_accuracy", "sparsity"}`` record per epoch,
    the raw Flax variables (to continue training from) and the pruning masks (ones where unpruned).

    ``val_accuracy`` is sampled (:func:`validated_epoch`); it is None at the other epochs and
    without a validation set."""

    model: FloatModel
    history: list[dict] = field(default_factory=list)
    variables: dict | None = None
    masks: Any = None
    #: Wall time spent compiling the training step (ahead of time, before the first step).
    compile_seconds: float = 0.0


#: Specs whose compiled training steps a process keeps (one per spec and learning rate).
SPECS_KEPT = 8


@lru_cache(maxsize=SPECS_KEPT)
def _optimizer_and_step(spec: ModelSpec, lr: float) -> tuple[Callable, Callable]:
    """Adam's jitted state initialisation and the jitted training step of ``spec``, compiled once
    per shape, not once per run."""
    tx = optax.adam(lr)
    return jax.jit(tx.init), _make_step(FloatNet(spec), tx)


# One compiled program per network instead of one multiplication per weight tensor.
_apply_masks = jax.jit(lambda params, masks: jax.tree_util.tree_map(jnp.multiply, params, masks))


def _make_step(net: FloatNet, tx: optax.GradientTransformation) -> Callable:
    def loss_fn(params, batch_stats, xb, yb):
        logits, updates = net.apply({"params": params, "batch_stats": batch_stats}, xb,
                                    train=True, mutable=["batch_stats"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        return loss, updates.get("batch_stats", {})

    @jax.jit
    def step(params, batch_stats, opt_state, masks, xb, yb):
        (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch_stats, xb, yb)
        updates, opt_state = tx.update(grads, opt_state, params)
        # Re-masking after every update keeps pruned weights at exactly zero whatever Adam's moments say.
        params = jax.tree_util.tree_map(jnp.multiply, optax.apply_updates(params, updates), masks)
        return params, batch_stats, opt_state, loss

    return step


#: Pre-training measures validation accuracy every this many epochs and at the last one.  Only
#: the history reads it (progress lines, the report's curves), so sampling it saves an evaluation of
#: the validation set on most epochs while the curve keeps its shape and its final value.
VALIDATION_EVERY = 5


def validated_epoch(epoch: int, epochs: int) -> bool:
    """Whether epoch ``epoch`` (1-based) of ``epochs`` records validation accuracy."""
    return epoch % VALIDATION_EVERY == 0 or epoch == epochs


def _check_hyper(epochs: int, batch_size: int, lr: float) -> None:
    if epochs < 1:
        raise BadInput(f"epochs must be at least 1, got {epochs}")
    if batch_size < 1:
        raise BadInput(f"batch_size must be at least 1, got {batch_size}")
    if not lr > 0:
        raise BadInput(f"lr must be positive, got {lr}")


def pretrain_float(spec: ModelSpec, x_train: Any, y_train: Any, *, epochs: int = 30, batch_size: int = 64,
                   lr: float = 3e-3, seed: int = 0, x_val: Any = None, y_val: Any = None,
                   pruning: AGPSchedule | None = None, variables: dict | None = None,
                   on_epoch: Callable[[dict], None] | None = None) -> PretrainResult:
    """Train the float network with Adam on softmax cross-entropy; deterministic for a seed.

    ``variables`` continues from earlier Flax variables (transfer learning) instead of a fresh init.
    ``pruning`` applies AGP during training; its last pruning step must fall inside the run.
    """
    _check_hyper(epochs, batch_size, lr)
    x_train, y_train = check_dataset(spec, x_train, y_train, "x_train", "y_train")
    if (x_val is None) != (y_val is None):
        raise BadInput("x_val and y_val must be given together")
    if x_val is not None:
        x_val, y_val = check_dataset(spec, x_val, y_val, "x_val", "y_val")

    n = x_train.shape[0]
    total_steps = training_steps(n, epochs, batch_size)
    if pruning is not None and pruning.end_step >= total_steps:
        raise BadInput(f"pruning: start_step + steps x frequency = {pruning.end_step} must be below the "
                       f"{total_steps} float training steps ({epochs} epochs x {total_steps // epochs} batches)")
    variables = variables if variables is not None else init_variables(spec, seed)
    params, batch_stats = variables["params"], variables.get("batch_stats", {})
    masks = ones_like_masks(params)
    init_state, step = _optimizer_and_step(spec, lr)
    opt_state = init_state(params)
    rng = np.random.default_rng(seed)
    # Full batches only: one compiled shape, and no tiny tail batch to skew BatchNorm statistics.
    # Reshuffling every epoch means every sample is still seen.
    batch = min(batch_size, n)
    history = []
    t = 0
    for epoch in range(epochs):
        order = rng.permutation(n)
        losses = []
        for start in range(0, n - batch + 1, batch):
            if pruning is not None and pruning.is_pruning_step(t):
                masks = update_masks(spec, pruning, {"params": params, "batch_stats": batch_stats}, masks, t)
                params = _apply_masks(params, masks)
            idx = order[start:start + batch]
            if t == 0:
                step, compile_seconds = compile_ahead(step, params, batch_stats, opt_state, masks,
                                                      x_train[idx], y_train[idx])
            params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state, masks,
                                                        x_train[idx], y_train[idx])
            losses.append(loss)
            t += 1
        record = {"epoch": epoch + 1, "loss": float(jnp.mean(jnp.stack(losses))), "val_accuracy": None,
                  "sparsity": pruning.sparsity_at(t - 1) if pruning else 0.0}
        if x_val is not None and len(x_val) and validated_epoch(epoch + 1, epochs):
            folded = fold_batchnorm(spec, {"params": params, "batch_stats": batch_stats})
            record["val_accuracy"] = accuracy(folded, x_val, y_val)
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    variables = {"params": params, "batch_stats": batch_stats}
    return PretrainResult(fold_batchnorm(spec, variables), history, variables, masks, compile_seconds)


def accuracy(model: FloatModel, x: Any, y: Any, batch_size: int = EVAL_BATCH) -> float:
    """Top-1 accuracy of the folded ``model`` (via :func:`float_forward`) on ``(x, y)``; the last
    batch is padded, so one compiled shape serves every data set."""
    x, y = check_dataset(model.spec, x, y, "x", "y")
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        labels = y[start:start + batch_size]
        logits = np.asarray(float_forward(model, pad_batch(x[start:start + batch_size], batch_size)))
        correct += int(np.sum(np.argmax(logits[:len(labels)], axis=-1) == labels))
    return correct / x.shape[0]
