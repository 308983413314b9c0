"""``explore bench evaluate``: one evaluate of a campaign's baseline timed by stage, then accuracy
against AGP sparsity."""

from __future__ import annotations

import platform
from pathlib import Path

import jax
from rich.console import Console

from explore.io import write_json_atomic
from explore.version import __version__


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
