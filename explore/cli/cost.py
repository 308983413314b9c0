"""Terminal side of ``explore cost``: one table per board, or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.table import Table

from explore.campaign import Campaign, campaign_board, load_campaign, load_genome, resolve_genome
from explore.cost import Design, cost_on_board, design_from_genome, plan_design
from explore.cost.result import BoardCost, costs_to_dict
from explore.data import load_dataset
from explore.errors import BadInput
from explore.campaign.boards import BoardProfile, UnknownBoard, list_boards


def chosen_boards(campaign: Campaign, names: Sequence[str]) -> list[BoardProfile]:
    """``--board`` names or files if given, else the campaign's boards, else every known board; the
    campaign's ``search.budgets`` apply to the boards it names."""
    if names:
        boards = []
        for name in names:
            try:
                boards.append(campaign_board(campaign, name, Path.cwd()))
            except UnknownBoard as e:
                raise BadInput(f"--board {name}: {e}") from None
        return boards
    if campaign.boards:
        return [campaign_board(campaign, name) for name in campaign.boards]
    return list_boards()


def run_cost(campaign_path: Path, genome_path: Path | None, board_names: Sequence[str], as_json: bool) -> dict:
    campaign = load_campaign(campaign_path)
    where = str(genome_path) if genome_path else f"{campaign_path}: baseline"
    genome = resolve_genome(campaign, load_genome(genome_path) if genome_path else campaign.baseline, where)
    boards = chosen_boards(campaign, board_names)
    console = Console(stderr=as_json)
    # Costs need only the input shape and the class count, but those come from the data set.
    with console.status(f"reading the shape of {campaign.dataset.name} ..."):
        data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
    design = design_from_genome(genome, campaign.pruning, campaign.on_device.batch_size, data.input_shape,
                                data.num_classes, where)
    plans = plan_design(design)
    costs = {board.name: cost_on_board(design, board, plans) for board in boards}
    if as_json:
        print(json.dumps({"genome": genome.to_dict(), "design": _design_summary(design), "boards": costs_to_dict(costs),
                          "arena_plan": {"training": plans.training.to_dict(),
                                         "inference": plans.inference.to_dict()}}, indent=2))
        return costs
    console.print(_design_line(campaign, design))
    for board in boards:
        console.print(_board_table(board, costs[board.name]))
    feasible = [name for name, cost in costs.items() if cost.feasible]
    console.print(f"feasible on {len(feasible)} of {len(costs)} boards"
                  + (f": {', '.join(feasible)}" if feasible else "")
                  + ".  Figures marked * rest on assumed profile figures (hw_profiles/README.md).")
    return costs


def _design_summary(design: Design) -> dict:
    return {"layers": len(design.spec.layers), "params": design.spec.param_count(),
            "trainable": list(design.trainable), "trainable_params": design.spec.param_count(design.trainable),
            "config": design.config, "lambda_min": design.lambda_min, "lambda_max": design.lambda_max,
            "batch_size": design.batch_size, "update_rates": "recorded" if design.update_rates else "prior"}


def _design_line(campaign: Campaign, design: Design) -> str:
    s = _design_summary(design)
    lambdas = (f", sparse updates λ {design.lambda_min:g}..{design.lambda_max:g} (prior rate at ε = 1/2)"
               if design.sparse else "")
    return (f"{campaign.name}: {campaign.model.family}, {s['layers']} layers, {s['params']} parameters; "
            f"on-device {design.config}, trainable layers {s['trainable']} ({s['trainable_params']} parameters), "
            f"batch {design.batch_size}{lambdas}")


def _kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


def _pct(value: float, limit: float | None) -> str:
    return "" if not limit else f"{100 * value / limit:.1f} %"


def _board_table(board: BoardProfile, cost: BoardCost) -> Table:
    verdict = "[green]feasible[/]" if cost.feasible else "[red]INFEASIBLE[/]"
    table = Table(title=f"{board.name}: {board.core} @ {board.clock_mhz:g} MHz: {verdict}", title_justify="left")
    for header, justify in (("", "left"), ("value", "right"), ("budget", "right"), ("use", "right")):
        table.add_column(header, justify=justify)
    sram, flash, latency = cost.sram_bytes, cost.flash_bytes, cost.latency_ms
    assumed = set(cost.assumed)
    star_mem = "*" if {"runtime.statics_bytes", "runtime.code_bytes"} & assumed else ""
    star_time = "*" if any(a.startswith("kernels.") or a == "cpi" for a in assumed) else ""
    star_energy = "*" if star_time or {"power.active_ma", "power.supply_v"} & assumed else ""
    table.add_row("training SRAM", _kib(sram.total) + star_mem, _kib(sram.budget),
                  _pct(sram.total, sram.budget))
    breakdown = ", ".join(f"{k} {v}" for k, v in cost.arena_breakdown.items() if v)
    table.add_row(f"  arena ({breakdown or 'empty'})", _kib(sram.arena), "", "")
    table.add_row("  trainable state", _kib(sram.trainable), "", "")
    table.add_row("  runtime statics", _kib(sram.statics) + star_mem, "", "")
    table.add_row("inference SRAM (arena + statics)", _kib(sram.inference_total) + star_mem, "", "")
    table.add_row("flash", _kib(flash.total) + star_mem, _kib(flash.budget), _pct(flash.total, flash.budget))
    for key, label in (("frozen", "frozen layers"), ("trainable_init", "trainable layers' initial values"),
                       ("tables", "layer and arena tables"), ("runtime", "runtime code")):
        table.add_row(f"  {label}", _kib(getattr(flash, key)), "", "")
    budgets = board.budgets
    table.add_row("latency per training sample", f"{cost.train_latency_ms:.3f} ms{star_time}",
                  _limit(budgets.train_latency_ms, "ms"), _pct(cost.train_latency_ms, budgets.train_latency_ms))
    table.add_row("  forward / backward / update ÷ batch",
                  f"{latency.forward:.3f} / {latency.backward:.3f} / {latency.update:.3f}", "", "")
    table.add_row("latency per inference", f"{cost.infer_latency_ms:.3f} ms{star_time}",
                  _limit(budgets.infer_latency_ms, "ms"), _pct(cost.infer_latency_ms, budgets.infer_latency_ms))
    table.add_row("energy per training sample", f"{cost.energy_mj_per_sample:.4f} mJ{star_energy}",
                  _limit(budgets.energy_mj_per_sample, "mJ"),
                  _pct(cost.energy_mj_per_sample, budgets.energy_mj_per_sample))
    for v in cost.violations:
        table.add_row(f"[red]over budget: {v.budget}[/]", f"[red]+{_amount(v.budget, v.excess)}[/]",
                      _amount(v.budget, v.limit), f"[red]+{v.excess_pct:.1f} %[/]")
    return table


def _amount(budget: str, value: float) -> str:
    if budget.endswith("_ms"):
        return f"{value:.3f} ms"
    if budget.startswith("energy"):
        return f"{value:.4f} mJ"
    return _kib(value)


def _limit(value: float | None, unit: str) -> str:
    return "" if value is None else f"{value:g} {unit}"
