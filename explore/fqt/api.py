"""``train_on_device``: retrain a quantized model as the microcontroller would, and report how it went."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import lru_cache, partial
from typing import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np

from explore.fqt import simulator as sim
from explore.model.deployable import FloatModel, QuantizedModel
from explore.model.spec import CONFIGS, ModelSpec, check_dataset
from explore.errors import BadInput


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    #: Mean fraction of output channels updated per sample, per trainable layer (design 10).
    update_rates: dict[int, float]


@dataclass(frozen=True)
class TrainResult:
    model: QuantizedModel
    config: str
    trainable: tuple[int, ...]
    history: tuple[EpochRecord, ...]
    update_rates: dict[int, float] = field(default_factory=dict)
    #: Wall time spent compiling the training step (ahead of time, before the first step).
    compile_seconds: float = 0.0

    @property
    def test_accuracy(self) -> float:
        return self.history[-1].test_accuracy


def check_options(spec: ModelSpec, trainable: Iterable[int], config: str, lambda_min: float,
                  lambda_max: float, lr: float, batch_size: int, epochs: int) -> tuple[int, ...]:
    """Validate the training options once, at the edge; returns the sorted trainable set."""
    if config not in CONFIGS:
        raise BadInput(f"config {config!r} must be one of {CONFIGS}")
    for name, value in (("lambda_min", lambda_min), ("lambda_max", lambda_max)):
        if not 0.0 <= value <= 1.0:
            raise BadInput(f"{name} = {value} must lie in [0, 1]")
    if lambda_min > lambda_max:
        raise BadInput(f"lambda_min = {lambda_min} must not exceed lambda_max = {lambda_max}")
    if not lr > 0:
        raise BadInput(f"lr = {lr} must be positive")
    if batch_size < 1 or epochs < 1:
        raise BadInput(f"batch_size = {batch_size} and epochs = {epochs} must be at least 1")
    layers = tuple(sorted(set(int(i) for i in trainable)))
    if not layers:
        raise BadInput("trainable must name at least one layer")
    allowed = spec.param_layers()
    wrong = [i for i in layers if i not in allowed]
    if wrong:
        raise BadInput(f"trainable layers {wrong} are not conv/dense layers; allowed indices are {list(allowed)}")
    return layers


#: Plans whose compiled functions a process keeps: a worker's trials of recent shapes.
PLANS_KEPT = 16

#: Samples per evaluation batch: every data set is cut (and its last batch padded) to this one shape.
EVAL_BATCH = 512


@lru_cache(maxsize=PLANS_KEPT)
def _step_fn(plan: sim.Plan):
    """The jitted training step of ``plan``.  Weights and quantization are arguments, so every model
    of the plan's shapes shares its compilation."""
    return jax.jit(partial(sim.train_step, plan))


@lru_cache(maxsize=PLANS_KEPT)
def _logits_fn(plan: sim.Plan):
    """The jitted forward of ``plan``, shared like :func:`_step_fn`."""
    return jax.jit(lambda weights, consts, xb: sim.forward(plan, weights, consts, xb, keep=False)[0])


@lru_cache(maxsize=PLANS_KEPT)
def _prefix_fn(plan: sim.Plan):
    """The jitted frozen prefix of ``plan`` (the layers before ``plan.start``), shared like :func:`_step_fn`."""
    return jax.jit(partial(sim.prefix_outputs, plan))


def _predict(fn, weights: dict, consts: dict, x, batch_size: int = EVAL_BATCH):
    """``fn`` (logits, or a prefix's tensors) of ``x`` in batches of ``batch_size``; the last is padded
    (samples are independent), so one compiled shape serves every data set.  ``x`` and the result
    are arrays or tuples of arrays, on the host."""
    n = len(jax.tree_util.tree_leaves(x)[0])
    chunks = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        batch = jax.tree_util.tree_map(lambda a: pad_batch(a[start:start + batch_size], batch_size), x)
        out = fn(weights, consts, jax.device_put(batch))
        chunks.append(jax.tree_util.tree_map(lambda a: np.asarray(a)[:count], out))
    return jax.tree_util.tree_map(lambda *parts: np.concatenate(parts), *chunks)


def pad_batch(x: np.ndarray, size: int) -> np.ndarray:
    """``x`` with zero samples appended up to ``size`` along the first axis."""
    return np.pad(x, [(0, size - len(x))] + [(0, 0)] * (x.ndim - 1))


def evaluate(model: QuantizedModel, x: np.ndarray, y: np.ndarray, config: str = "uint8") -> float:
    """Accuracy of ``model`` run in ``config`` (integer inference for uint8)."""
    x, y = check_dataset(model.spec, x, y, "x", "y")
    if config not in CONFIGS:
        raise BadInput(f"config {config!r} must be one of {CONFIGS}")
    plan = sim.inference_plan(model, config)
    logits = _predict(_logits_fn(plan), sim.plan_weights(plan, model), sim.runtime_constants(model), x)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def _minibatches(n: int, batch_size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        valid = np.zeros(batch_size, bool)
        valid[:len(index)] = True
        yield np.pad(index, (0, batch_size - len(index))), valid


def training_plans(model: QuantizedModel, config: str, layers: tuple[int, ...],
                   lambda_min: float) -> tuple[sim.Plan, sim.Plan]:
    """The plans of the training step and of the per-epoch evaluation.  Both start at the first
    trainable layer: the frozen layers before it run once per data set, not in every minibatch
    and epoch."""
    plan = replace(sim.make_plan(model, config, layers, lambda_min), start=layers[0])
    return plan, replace(sim.inference_plan(model, config), start=plan.start)


def _after_prefix(plan: sim.Plan, model: QuantizedModel, consts: dict, *datasets: np.ndarray) -> list:
    """Each data set as ``plan`` takes it: the samples, or with ``plan.start > 0`` the outputs of the
    frozen prefix, computed here once instead of in every step and evaluation."""
    if plan.start == 0:
        return list(datasets)
    weights = {i: w for i, w in sim.plan_weights(plan, model).items() if i < plan.start}
    return [_predict(_prefix_fn(plan), weights, consts, x) for x in datasets]


def _store(model: QuantizedModel, plan: sim.Plan, trained: dict[int, dict]) -> QuantizedModel:
    """Put trained weights back: integer layers into ``params``, float layers into ``float_model``."""
    params = dict(model.params)
    floats = dict(model.float_model.params)
    for i, p in trained.items():
        target = floats if plan.is_float(i) else params
        target[i] = {k: np.asarray(v) for k, v in p.items()}
    return model.with_params(params, FloatModel(model.spec, floats))


def train_on_device(
    model: QuantizedModel,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    trainable: Iterable[int],
    config: str = "uint8",
    lambda_min: float = 1.0,
    lambda_max: float = 1.0,
    lr: float = 0.01,
    batch_size: int = 48,
    epochs: int = 10,
    seed: int = 0,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Simulate on-device training of the ``trainable`` layers of ``model`` in ``config``.

    Deterministic for a ``seed`` (it orders the samples).  Returns the trained model, loss and
    accuracy per epoch and the measured sparse-update rate per trainable layer.
    """
    spec = model.spec
    layers = check_options(spec, trainable, config, lambda_min, lambda_max, lr, batch_size, epochs)
    x_train, y_train = check_dataset(spec, x_train, y_train, "x_train", "y_train")
    x_test, y_test = check_dataset(spec, x_test, y_test, "x_test", "y_test")
    plan, inference = training_plans(model, config, layers, lambda_min)
    trained, frozen = sim.split_weights(plan, model)
    consts = sim.runtime_constants(model)
    train_in, test_in = _after_prefix(inference, model, consts, x_train, x_test)
    hyper = sim.Hyper(jnp.float32(lr), jnp.float32(lambda_min), jnp.float32(lambda_max))
    step = _step_fn(plan)
    logits_of = _logits_fn(inference)
    rng = np.random.default_rng(seed)
    loss_max = jnp.float32(0.0)
    history: list[EpochRecord] = []
    kept_total = {i: 0.0 for i in layers}
    compile_seconds = None
    for epoch in range(1, epochs + 1):
        # Sums stay on the device during the epoch, so the host never waits for a step.
        loss_sum = correct = jnp.float32(0.0)
        kept_epoch = {i: jnp.float32(0.0) for i in layers}
        for index, valid in _minibatches(len(x_train), batch_size, rng):
            xb = jax.tree_util.tree_map(lambda a: a[index], train_in)
            if epoch == 1 and compile_seconds is None:
                step, compile_seconds = compile_ahead(step, trained, frozen, consts, xb,
                                                      y_train[index], valid, loss_max, hyper)
            out = step(trained, frozen, consts, xb, y_train[index], valid, loss_max, hyper)
            trained, loss_max = out.trainable, out.loss_max
            loss_sum = loss_sum + jnp.sum(out.losses)
            correct = correct + jnp.sum(out.correct)
            kept_epoch = {i: kept_epoch[i] + jnp.sum(out.kept[i]) for i in layers}
        logits = _predict(logits_of, {**frozen, **trained}, consts, test_in)
        record = EpochRecord(epoch, float(loss_sum) / len(x_train), float(correct) / len(x_train),
                             float(np.mean(np.argmax(logits, axis=1) == y_test)),
                             {i: float(kept_epoch[i]) / len(x_train) for i in layers})
        history.append(record)
        for i in layers:
            kept_total[i] += float(kept_epoch[i])
        if on_epoch is not None:
            on_epoch(record)
    rates = {i: kept_total[i] / (len(x_train) * epochs) for i in layers}
    return TrainResult(_store(model, plan, trained), config, layers, tuple(history), rates, compile_seconds)


def compile_ahead(jitted: Callable, *args) -> tuple[Callable, float]:
    """Compile ``jitted`` for ``args`` now; returns the executable and the seconds it took, so that
    compile time can be reported apart from run time."""
    start = time.perf_counter()
    executable = jitted.lower(*args).compile()
    return executable, time.perf_counter() - start
