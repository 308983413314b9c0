"""``explore bench evaluate``: one evaluate of a campaign's baseline against the compute limit, stage by
stage, then again in a fresh process on a warm compilation cache; then accuracy against AGP sparsity.

A stage's limit is the floating-point work it does (:mod:`~explore.bench.trial_work`) at the
machine's float32 throughput for its sizes (:mod:`~explore.bench.throughput`), measured in the same
process; ``limit_ratio`` is its seconds over that.  The first evaluate starts from an empty
persistent compilation cache (``DIR/evaluate/jax_cache``, the bench's own) and fills it; the second
runs in a new Python process that reads it, as a campaign's next trial of that shape does.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import jax
from rich.console import Console
from rich.table import Table

from explore.bench.throughput import layer_shape, largest_layer, measure_throughput
from explore.bench.trial_work import STAGES, StageWork, stage_work, trial_run
from explore.campaign import Campaign, Genome, load_campaign, resolve_genome
from explore.io import write_json_atomic
from explore.train.compile_cache import cache_dir
from explore.version import __version__


EVALUATE_TARGET_S = 90.0
#: Issue 16's targets on the quickstart baseline; each figure must not exceed its target.
TARGETS = {"limit_ratio": 5.0, "compile_share": 0.2, "warm_limit_ratio": 3.0}
#: Under the bench's output directory: the compilation cache the cold evaluate fills and the warm one reads.
CACHE_ROOT = "evaluate"
#: The fresh process of the warm evaluate: campaign path, cache root, where to write its metrics.
_WARM_ENTRY = "import sys; from explore.bench.evaluate import warm_main; warm_main(sys.argv[1:])"


def baseline_genome(campaign: Campaign, campaign_path: Path) -> Genome:
    return resolve_genome(campaign, campaign.baseline, f"{campaign_path}: baseline")


def timed_evaluate(campaign_path: Path, cache_root: Path) -> dict:
    """The metrics of one evaluate of the campaign's baseline, compiling through the persistent cache
    under ``cache_root``; it loads the data itself, as a real evaluate does."""
    from explore.train.compile_cache import compilation_cache
    from explore.train.pipeline import evaluate_design

    campaign = load_campaign(campaign_path)
    with compilation_cache(cache_root):
        return evaluate_design(campaign, baseline_genome(campaign, campaign_path))


def warm_main(argv: list[str]) -> None:
    """Entry of the warm evaluate's fresh process: ``CAMPAIGN CACHE_ROOT OUT_JSON``."""
    campaign_path, cache_root, out = (Path(a) for a in argv)
    write_json_atomic(out, timed_evaluate(campaign_path, cache_root))


def _warm_evaluate(campaign_path: Path, cache_root: Path) -> dict:
    out = cache_root / "warm_metrics.json"
    run = subprocess.run([sys.executable, "-c", _WARM_ENTRY, str(campaign_path.resolve()), str(cache_root.resolve()),
                          str(out.resolve())], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"the warm evaluate failed (exit {run.returncode}):\n{run.stderr[-4000:]}")
    return json.loads(out.read_text())


def _stage_batches(campaign: Campaign, train_samples: int) -> dict[str, int]:
    """The batch each stage's compiled programs run."""
    from explore.fqt.api import EVAL_BATCH
    from explore.train.ptq import CALIBRATION_BATCH

    return {"pretrain": min(campaign.pretrain.batch_size, train_samples), "ptq": CALIBRATION_BATCH,
            "on_device": campaign.on_device.batch_size, "metrics": EVAL_BATCH}


def stage_throughput(work: dict[str, StageWork], batches: dict[str, int]) -> dict[str, dict]:
    """The measured throughput at each stage's sizes (one measurement per distinct shape)."""
    measured: dict = {}
    result = {}
    for stage in STAGES:
        spec = work[stage].spec
        shape = layer_shape(spec, largest_layer(spec), batches[stage])
        if shape not in measured:
            measured[shape] = measure_throughput(shape)
        result[stage] = measured[shape]
    return result


def _stage_figures(seconds: float, tally: dict, work: StageWork, throughput_gflops: float) -> dict:
    gflop = work.flop / 1e9
    limit_s = gflop / throughput_gflops
    return {"seconds": seconds, "compiles": tally.get("count", 0), "compile_s": tally.get("seconds", 0.0),
            "cache_hits": tally.get("cache_hits", 0), "trace_s": tally.get("trace_seconds", 0.0), "gflop": gflop,
            "throughput_gflops": throughput_gflops, "limit_s": limit_s, "limit_ratio": seconds / limit_s}


def limit_figures(metrics: dict, work: dict[str, StageWork], throughput: dict[str, dict]) -> dict:
    """Seconds, compilations and work of each stage against its limit, and of the whole evaluate
    (whose wall time also holds loading the data)."""
    compiles = metrics["compiles"]
    stages = {stage: _stage_figures(metrics["seconds"][stage], compiles.get(stage, {}), work[stage],
                                    throughput[stage]["limit_gflops"]) for stage in STAGES}
    wall = metrics["seconds"]["total"]
    limit_s = sum(s["limit_s"] for s in stages.values())
    total = compiles["total"]
    return {"wall_s": wall, "data_s": metrics["seconds"]["data"], "gflop": sum(s["gflop"] for s in stages.values()),
            "limit_s": limit_s, "limit_ratio": wall / limit_s, "compiles": total["count"],
            "cache_hits": total["cache_hits"], "compile_s": total["seconds"], "compile_share": total["seconds"] / wall,
            "stages": stages}


def _sweep_point(campaign, genome: dict, data, sparsity: float) -> dict:
    from explore.train.pipeline import evaluate_design

    metrics = evaluate_design(campaign, resolve_genome(campaign, {**genome, "sparsity": sparsity}, "genome"),
                              data=data)
    return {"target_sparsity": sparsity, "reached_sparsity": metrics["sparsity"]["reached"],
            "kind": metrics["sparsity"]["kind"], "params": metrics["params"]["total"],
            "accuracy": metrics["accuracy"], "seconds": metrics["seconds"]["total"]}


def _sparsity_sweep(campaign: Campaign, sparsities: list[float], console: Console) -> list[dict]:
    from explore.data import load_dataset

    if not sparsities:
        return []
    data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)  # one copy for every point
    sweep = []
    for level in sparsities:
        with console.status(f"sparsity {level:.2f} ..."):
            sweep.append(_sweep_point(campaign, campaign.baseline, data, level))
        point = sweep[-1]
        console.print(f"sparsity {level:.2f} -> reached {point['reached_sparsity']:.3f}, {point['params']} params, "
                      + ", ".join(f"{k} {v:.3f}" for k, v in point["accuracy"].items()))
    return sweep


def _limits(campaign: Campaign, campaign_path: Path, cache_root: Path, console: Console) -> tuple[dict, dict]:
    """The cold evaluate (empty cache) in this process and the warm one in a fresh process, each against
    the limit at the throughput measured here; returns the cold metrics and the figures."""
    shutil.rmtree(cache_root, ignore_errors=True)  # so that cold is cold
    with console.status("timing one evaluate of the baseline (empty compilation cache) ..."):
        cold = timed_evaluate(campaign_path, cache_root)
    pretrain_spec = baseline_genome(campaign, campaign_path).network(tuple(cold["dataset"]["input_shape"]),
                                                                      cold["dataset"]["num_classes"])
    work = stage_work(trial_run(campaign, pretrain_spec, cold))
    with console.status("measuring float32 throughput at each stage's sizes ..."):
        throughput = stage_throughput(work, _stage_batches(campaign, cold["dataset"]["train"]))
    with console.status("timing it again in a fresh process on the warm compilation cache ..."):
        warm = _warm_evaluate(campaign_path, cache_root)
    figures = limit_figures(cold, work, throughput)
    figures["warm"] = limit_figures(warm, stage_work(trial_run(campaign, pretrain_spec, warm)), throughput)
    figures["warm_limit_ratio"] = figures["warm"]["limit_ratio"]
    figures["throughput"] = throughput
    return cold, figures


def run_evaluate_bench(campaign_path: Path, out_dir: Path, sparsities: list[float]) -> dict:
    """One evaluate of the campaign's baseline against the compute limit (cold, then warm in a fresh
    process), then accuracy against AGP sparsity; writes ``out_dir/evaluate.json``."""
    from explore.errors import BadInput

    campaign = load_campaign(campaign_path)
    if sparsities and campaign.pruning.kind == "none":
        raise BadInput(f"{campaign_path}: pruning.kind is none; the sparsity sweep needs structured or unstructured")
    console = Console()
    cache_root = Path(out_dir) / CACHE_ROOT
    baseline, figures = _limits(campaign, campaign_path, cache_root, console)
    console.print(stage_table(figures))
    sweep = _sparsity_sweep(campaign, sparsities, console)
    result = {
        "campaign": campaign.name,
        "seconds": baseline["seconds"],
        "accuracy": baseline["accuracy"],
        "target_seconds": EVALUATE_TARGET_S,
        "met": baseline["seconds"]["total"] <= EVALUATE_TARGET_S,
        **figures,
        "compile_cache": str(cache_dir(cache_root)),
        "targets": TARGETS,
        "targets_met": {key: figures[key] <= target for key, target in TARGETS.items()},
        "accuracy_vs_sparsity": sweep,
        "explore_version": __version__,
        "jax_version": jax.__version__,
        "machine": f"{platform.machine()}, {jax.local_device_count()} JAX CPU device(s)",
    }
    path = Path(out_dir) / "evaluate.json"
    write_json_atomic(path, result)
    for key, target in TARGETS.items():
        console.print(f"{key:18s} {result[key]:8.2f} (target <= {target:g}: "
                      f"{'met' if result['targets_met'][key] else 'MISSED'})")
    console.print(f"one evaluate: {baseline['seconds']['total']:.1f} s (target <= {EVALUATE_TARGET_S:g} s: "
                  f"{'met' if result['met'] else 'MISSED'}); wrote {path}")
    return result


#: The stage table's rows: label, whether from the warm evaluate, figure, format.
_TABLE_ROWS = (
    ("seconds", False, "seconds", "{:.2f}"),
    ("compiles", False, "compiles", "{}"),
    ("compile s", False, "compile_s", "{:.2f}"),
    ("GFLOP", False, "gflop", "{:.3f}"),
    ("limit GFLOP/s", False, "throughput_gflops", "{:.1f}"),
    ("limit s", False, "limit_s", "{:.4f}"),
    ("x limit", False, "limit_ratio", "{:.1f}"),
    ("warm seconds", True, "seconds", "{:.2f}"),
    ("warm compiles", True, "compiles", "{}"),
    ("warm cache hits", True, "cache_hits", "{}"),
    ("warm x limit", True, "limit_ratio", "{:.1f}"),
)


def stage_table(figures: dict) -> Table:
    """Seconds, compilations and work of each stage against its limit, cold and warm; one column per
    stage, so that it fits a narrow terminal."""
    from rich import box

    warm = figures["warm"]
    columns = {**{stage: (figures["stages"][stage], warm["stages"][stage]) for stage in STAGES},
               "evaluate": (_whole(figures), _whole(warm))}
    table = Table(title="one evaluate against the compute limit", box=box.SIMPLE_HEAD,
                  caption=f"cold: from an empty compilation cache; warm: a fresh process on the cache it filled; "
                          f"evaluate: the whole, loading the data included ({figures['data_s']:.2f} s cold, "
                          f"{warm['data_s']:.2f} s warm)")
    table.add_column("", no_wrap=True)
    for name in columns:
        table.add_column(name, justify="right")
    for label, from_warm, key, form in _TABLE_ROWS:
        cells = (pair[from_warm] for pair in columns.values())
        table.add_row(label, *(form.format(cell[key]) if key in cell else "" for cell in cells))
    return table


def _whole(figures: dict) -> dict:
    keys = ("compiles", "cache_hits", "compile_s", "gflop", "limit_s", "limit_ratio")
    return {"seconds": figures["wall_s"], **{key: figures[key] for key in keys}}
