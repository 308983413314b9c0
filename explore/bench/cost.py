"""``explore bench cost``: random genomes costed per second on three boards (build, prune, plan the
arena, price per board)."""

from __future__ import annotations

import platform
import time
from pathlib import Path

from rich.console import Console

from explore.io import write_json_atomic
from explore.version import __version__


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
