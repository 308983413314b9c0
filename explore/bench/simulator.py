"""Benchmarks: ``explore bench fqt`` measures the simulator on one network and batch in one process.

Figures that are compared (uint8 against float32) are measured in the same run, interleaved, so a
noisy machine slows both alike.
"""

from __future__ import annotations

import platform
import statistics
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
from rich.console import Console

from explore.version import __version__
from explore.data import load_digits_split
from explore.fqt import simulator as sim
from explore.train.floatnet import init_float_params
from explore.model.spec import paper_cnn
from explore.io import write_json_atomic
from explore.train.ptq import quantize_model

TARGETS = {"uint8_over_float32_step_time": 2.5, "compile_s": 10.0}


def _compiled_step(model, config: str, lambda_min: float, args: tuple):
    """Compile one training step; returns the executable and the seconds lowering+compiling took."""
    plan = sim.make_plan(model, config, model.spec.param_layers(), lambda_min)
    trained, frozen = sim.split_weights(plan, model)
    full_args = (trained, frozen, sim.runtime_constants(model)) + args
    start = time.perf_counter()
    executable = jax.jit(partial(sim.train_step, plan)).lower(*full_args).compile()
    return executable, full_args, time.perf_counter() - start


def _time_steps(executable, args: tuple) -> float:
    start = time.perf_counter()
    jax.block_until_ready(executable(*args))
    return time.perf_counter() - start


def run_fqt_bench(out_dir: Path = Path("results/bench"), batch_size: int = 48, steps: int = 30) -> dict:
    """Samples per second of one training step (all layers trainable) per configuration, and compile time."""
    console = Console()
    split = load_digits_split(seed=0)
    spec = paper_cnn(split.input_shape, split.num_classes)
    model = quantize_model(init_float_params(spec, seed=0), split.x_train)
    x = jnp.asarray(split.x_train[:batch_size])
    y = jnp.asarray(split.y_train[:batch_size])
    valid = jnp.ones(batch_size, bool)
    hyper = sim.Hyper(jnp.float32(0.01), jnp.float32(1.0), jnp.float32(1.0))
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
    times: dict[str, list[float]] = {name: [] for name in variants}
    with console.status(f"timing {steps} steps per configuration, interleaved ..."):
        for _ in range(steps):
            for name, (executable, full_args) in compiled.items():
                times[name].append(_time_steps(executable, full_args))
    step_s = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "network": "paper_cnn(8x8x1 digits): conv8, conv16, maxpool, dense32, dense10; all layers trainable",
        "batch_size": batch_size,
        "steps": steps,
        **{f"{name}_samples_per_s": batch_size / step_s[name] for name in variants},
        **{f"{name}_step_ms": 1e3 * step_s[name] for name in variants},
        "uint8_over_float32_step_time": step_s["uint8"] / step_s["float32"],
        "compile_s": compile_s["uint8"],
        **{f"{name}_compile_s": compile_s[name] for name in variants},
        "targets": TARGETS,
        "explore_version": __version__,
        "jax_version": jax.__version__,
        "machine": f"{platform.machine()}, {jax.local_device_count()} JAX CPU device(s)",
    }
    path = Path(out_dir) / "fqt.json"
    write_json_atomic(path, result)
    for key in ("float32_samples_per_s", "uint8_samples_per_s", "uint8_sparse_samples_per_s",
                "uint8_over_float32_step_time", "compile_s"):
        target = TARGETS.get(key)
        verdict = "" if target is None else (" (target <= %g: %s)" % (target, "met" if result[key] <= target else "MISSED"))
        console.print(f"{key:32s} {result[key]:10.2f}{verdict}")
    console.print(f"wrote {path}")
    return result


EVALUATE_TARGET_S = 90.0


def _sweep_point(campaign, genome: dict, data, sparsity: float) -> dict:
    from explore.train.pipeline import evaluate_design

    from explore.campaign import resolve_genome

    metrics = evaluate_design(campaign, resolve_genome(campaign, {**genome, "sparsity": sparsity}, "genome"),
                              data=data)
    return {"target_sparsity": sparsity, "reached_sparsity": metrics["sparsity"]["reached"],
            "kind": metrics["sparsity"]["kind"], "params": metrics["params"]["total"],
            "accuracy": metrics["accuracy"], "seconds": metrics["seconds"]["total"]}


def run_evaluate_bench(campaign_path: Path, out_dir: Path, sparsities: list[float]) -> dict:
    """Wall time of one evaluate of the campaign's baseline by stage, then accuracy against AGP sparsity."""
    from explore.campaign import load_campaign, resolve_genome
    from explore.data import load_dataset
    from explore.errors import BadInput
    from explore.train.pipeline import evaluate_design

    campaign = load_campaign(campaign_path)
    if sparsities and campaign.pruning.kind == "none":
        raise BadInput(f"{campaign_path}: pruning.kind is none; the sparsity sweep needs structured or unstructured")
    console = Console()
    with console.status("timing one evaluate of the baseline ..."):
        baseline = evaluate_design(campaign, resolve_genome(campaign, campaign.baseline, "baseline"))
    console.print("seconds by stage: " + ", ".join(f"{k} {v:.1f}" for k, v in baseline["seconds"].items()))
    # The timed run above loads the data itself, as a real evaluate does; the sweep reuses one copy.
    data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
    sweep = []
    for level in sparsities:
        with console.status(f"sparsity {level:.2f} ..."):
            sweep.append(_sweep_point(campaign, campaign.baseline, data, level))
        point = sweep[-1]
        console.print(f"sparsity {level:.2f} -> reached {point['reached_sparsity']:.3f}, {point['params']} params, "
                      + ", ".join(f"{k} {v:.3f}" for k, v in point["accuracy"].items()))
    result = {
        "campaign": campaign.name,
        "seconds": baseline["seconds"],
        "accuracy": baseline["accuracy"],
        "target_seconds": EVALUATE_TARGET_S,
        "met": baseline["seconds"]["total"] <= EVALUATE_TARGET_S,
        "accuracy_vs_sparsity": sweep,
        "explore_version": __version__,
        "jax_version": jax.__version__,
        "machine": f"{platform.machine()}, {jax.local_device_count()} JAX CPU device(s)",
    }
    path = Path(out_dir) / "evaluate.json"
    write_json_atomic(path, result)
    console.print(f"one evaluate: {baseline['seconds']['total']:.1f} s (target <= {EVALUATE_TARGET_S:g} s: "
                  f"{'met' if result['met'] else 'MISSED'}); wrote {path}")
    return result


COST_TARGET_GENOMES_PER_S = 200.0


def _random_genome(keys: dict, rng, max_trainable: int) -> dict:
    genome = {}
    for name, key in keys.items():
        if key.choices is not None:
            genome[name] = key.choices[int(rng.integers(len(key.choices)))]
        elif key.kind == "int":
            genome[name] = int(rng.integers(key.low, min(key.high, max_trainable if name == "trainable_last"
                                                        else key.high) + 1))
        else:
            genome[name] = float(rng.uniform(key.low, key.high))
    genome["lambda_min"], genome["lambda_max"] = sorted((genome["lambda_min"], genome["lambda_max"]))
    return genome


def run_cost_bench(campaign_path: Path, out_dir: Path, board_names: tuple[str, ...], seconds: float) -> dict:
    """Genomes costed per second on ``board_names``: build, prune, plan the arena, price per board."""
    import numpy as np

    from explore.campaign import genome_keys, load_campaign, resolve_genome
    from explore.cost import cost_on_board, design_from_genome, plan_design
    from explore.data import load_dataset
    from explore.campaign.boards import find_board

    campaign = load_campaign(campaign_path)
    boards = [find_board(name, Path.cwd()) for name in board_names]
    data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
    keys = dict(genome_keys(campaign))
    if campaign.pruning.kind == "none":
        keys.pop("sparsity")
    rng = np.random.default_rng(campaign.seed)
    spent = {"design": 0.0, "plan": 0.0, "price": 0.0}
    genomes = feasible = 0
    console = Console()
    with console.status(f"costing random {campaign.model.family} genomes for {seconds:g} s ..."):
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            genome = _random_genome(keys, rng, max_trainable=3)
            t0 = time.perf_counter()
            design = design_from_genome(resolve_genome(campaign, genome, "genome"), campaign.pruning,
                                        campaign.on_device.batch_size, data.input_shape, data.num_classes)
            t1 = time.perf_counter()
            plans = plan_design(design)
            t2 = time.perf_counter()
            costs = [cost_on_board(design, board, plans) for board in boards]
            t3 = time.perf_counter()
            spent["design"] += t1 - t0
            spent["plan"] += t2 - t1
            spent["price"] += t3 - t2
            genomes += 1
            feasible += all(c.feasible for c in costs)
        elapsed = time.perf_counter() - start
    rate = genomes / elapsed
    result = {
        "campaign": campaign.name,
        "family": campaign.model.family,
        "boards": list(board_names),
        "genomes": genomes,
        "seconds": elapsed,
        "genomes_per_s": rate,
        "ms_per_genome": {k: 1e3 * v / genomes for k, v in spent.items()},
        "feasible_on_all_boards": feasible / genomes,
        "target_genomes_per_s": COST_TARGET_GENOMES_PER_S,
        "met": rate >= COST_TARGET_GENOMES_PER_S,
        "explore_version": __version__,
        "machine": platform.machine(),
    }
    path = Path(out_dir) / "cost.json"
    write_json_atomic(path, result)
    console.print(f"{rate:.0f} genomes/s on {len(boards)} boards (target >= {COST_TARGET_GENOMES_PER_S:g}: "
                  f"{'met' if result['met'] else 'MISSED'}); per genome "
                  + ", ".join(f"{k} {v:.2f} ms" for k, v in result["ms_per_genome"].items())
                  + f"; {100 * feasible / genomes:.0f} % feasible on all; wrote {path}")
    return result
