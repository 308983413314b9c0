"""``explore bench fqt``: the simulator on one network and batch, in one process.

Each configuration's training step is compared with a plain float32 step of the same network,
trainable layers, batch and learning rate: ``jax.grad`` of the cross-entropy through
:func:`~explore.train.supernet.network_forward` and an optax SGD update, jitted.  Figures that are
compared are measured in the same run, interleaved, so a noisy machine slows them alike.
"""

from __future__ import annotations

import platform
import statistics
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
from rich.console import Console

from explore.version import __version__
from explore.data import load_digits_split
from explore.fqt import simulator as sim
from explore.train.floatnet import init_float_params
from explore.train.supernet import network_forward
from explore.model.deployable import FloatModel
from explore.model.spec import paper_cnn
from explore.io import write_json_atomic
from explore.train.ptq import quantize_model

TARGETS = {"uint8_over_optax_step_time": 2.0, "compile_s": 10.0}
CONFIG_NAMES = ("uint8", "mixed", "float32")
LR = 0.01


def _compiled_step(model, config: str, lambda_min: float, args: tuple):
    """Compile one training step; returns the executable and the seconds lowering+compiling took."""
    plan = sim.make_plan(model, config, model.spec.param_layers(), lambda_min)
    trained, frozen = sim.split_weights(plan, model)
    full_args = (trained, frozen, sim.runtime_constants(model)) + args
    start = time.perf_counter()
    executable = jax.jit(partial(sim.train_step, plan)).lower(*full_args).compile()
    return executable, full_args, time.perf_counter() - start


def _compiled_optax_step(model: FloatModel, trainable: tuple[int, ...], x: jax.Array, y: jax.Array):
    """A plain float32 training step (``jax.grad`` + optax SGD) of ``model``'s network, compiled like
    :func:`_compiled_step`."""
    spec = model.spec
    tx = optax.sgd(LR)
    weights = {i: jax.device_put(dict(p)) for i, p in model.params.items()}
    trained = {i: w for i, w in weights.items() if i in trainable}
    frozen = {i: w for i, w in weights.items() if i not in trainable}

    def loss(trained, frozen, xb, yb):
        logits = network_forward(spec, {**frozen, **trained}, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def step(trained, frozen, opt_state, xb, yb):
        grads = jax.grad(loss)(trained, frozen, xb, yb)
        updates, opt_state = tx.update(grads, opt_state, trained)
        return optax.apply_updates(trained, updates), opt_state

    full_args = (trained, frozen, tx.init(trained), x, y)
    start = time.perf_counter()
    executable = jax.jit(step).lower(*full_args).compile()
    return executable, full_args, time.perf_counter() - start


def _time_steps(executable, args: tuple) -> float:
    start = time.perf_counter()
    jax.block_until_ready(executable(*args))
    return time.perf_counter() - start


def run_fqt_bench(out_dir: Path = Path("results/bench"), batch_size: int = 48, steps: int = 30) -> dict:
    """Samples per second of one training step (all layers trainable) per configuration and of a plain
    optax float32 step, their ratios, and compile time."""
    console = Console()
    split = load_digits_split(seed=0)
    spec = paper_cnn(split.input_shape, split.num_classes)
    model = quantize_model(init_float_params(spec, seed=0), split.x_train)
    x = jnp.asarray(split.x_train[:batch_size])
    y = jnp.asarray(split.y_train[:batch_size])
    valid = jnp.ones(batch_size, bool)
    hyper = sim.Hyper(jnp.float32(LR), jnp.float32(1.0), jnp.float32(1.0))
    args = (x, y, valid, jnp.float32(0.0), hyper)
    variants = {"float32": ("float32", 1.0), "mixed": ("mixed", 1.0), "uint8": ("uint8", 1.0),
                "uint8_sparse": ("uint8", 0.5)}
    compiled, compile_s = {}, {}
    with console.status("compiling the training step for each configuration ..."):
        for name, (config, lambda_min) in variants.items():
            sparse_hyper = hyper._replace(lambda_min=jnp.float32(lambda_min))
            executable, full_args, seconds = _compiled_step(model, config, lambda_min, args[:-1] + (sparse_hyper,))
            compiled[name] = (executable, full_args)
            compile_s[name] = seconds
            _time_steps(executable, full_args)  # warm-up
        executable, full_args, compile_s["optax"] = _compiled_optax_step(model.float_model,
                                                                          spec.param_layers(), x, y)
        compiled["optax"] = (executable, full_args)
        _time_steps(executable, full_args)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in compiled}
    with console.status(f"timing {steps} steps per configuration, interleaved ..."):
        for _ in range(steps):
            for name, (executable, full_args) in compiled.items():
                times[name].append(_time_steps(executable, full_args))
    step_s = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "network": "paper_cnn(8x8x1 digits): conv8, conv16, maxpool, dense32, dense10; all layers trainable",
        "optax_step": f"jax.grad + optax.sgd({LR}) float32 step of the same network, trainable layers and batch",
        "batch_size": batch_size,
        "steps": steps,
        **{f"{name}_samples_per_s": batch_size / step_s[name] for name in compiled},
        **{f"{name}_step_ms": 1e3 * step_s[name] for name in compiled},
        **{f"{name}_over_optax_step_time": step_s[name] / step_s["optax"] for name in CONFIG_NAMES},
        "compile_s": compile_s["uint8"],
        **{f"{name}_compile_s": compile_s[name] for name in compiled},
        "targets": TARGETS,
        "explore_version": __version__,
        "jax_version": jax.__version__,
        "machine": f"{platform.machine()}, {jax.local_device_count()} JAX CPU device(s)",
    }
    path = Path(out_dir) / "fqt.json"
    write_json_atomic(path, result)
    for key in ("optax_samples_per_s", "float32_samples_per_s", "uint8_samples_per_s", "uint8_sparse_samples_per_s",
                *(f"{name}_over_optax_step_time" for name in CONFIG_NAMES), "compile_s"):
        target = TARGETS.get(key)
        verdict = "" if target is None else (" (target <= %g: %s)" % (target, "met" if result[key] <= target else "MISSED"))
        console.print(f"{key:32s} {result[key]:10.2f}{verdict}")
    console.print(f"wrote {path}")
    return result
