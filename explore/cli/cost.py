"""``explore cost``: one table per board, or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from explore.cli.options import campaign_argument

if TYPE_CHECKING:
    from rich.table import Table

    from explore.campaign.boards import BoardProfile
    from explore.cost.campaign_cost import DesignCost
    from explore.cost.result import BoardCost


@dataclass(frozen=True)
class CostOptions:
    campaign: Path
    genome: Path | None
    board_names: tuple[str, ...]
    as_json: bool


@click.command()
@campaign_argument
@click.option("--genome", type=click.Path(path_type=Path), default=None,
              help="JSON object of genome keys (default: the campaign's baseline).")
@click.option("--board", "board_names", multiple=True, metavar="NAME",
              help="Board profile name or YAML file; repeat for several.  Default: the\n"
                   "campaign's boards, or every profile when it names none.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"genome", "design", "boards": {NAME: {...}}} instead of tables.')
def cost(**params: Any) -> None:
    """Cost one design of CAMPAIGN on each board, without training it.

    \b
    For each board:
      training SRAM = arena + trainable state + runtime statics, against
                      the board's budget (SRAM less the application's reserve)
        arena       every tensor of one training sample over forward ->
                    loss -> backward, placed by a greedy planner
        trainable   weights, gradient buffers and statistics of the
                    layers trained on-device
      flash         frozen weights, initial values of the trainable
                    layers, tables, runtime code
      latency       per training sample: forward + backward (scaled by
                    the sparse-update rate) + update / batch size;
                    per inference: forward
      energy        latency x (active - idle current) x supply voltage
    Infeasible designs list each budget they exceed and by how much.
    Costs rest on the board profiles' figures (hw_profiles/*.yaml);
    those still assumed rather than calibrated are marked *.

    \b
    Example:
      explore cost search_spaces/quickstart.yaml --board rp2040 --board nrf52840
      explore cost search_spaces/quickstart.yaml --genome g.json --json
    """
    options = CostOptions(**params)
    from rich.console import Console

    from explore.cost.campaign_cost import cost_campaign_design

    console = Console(stderr=options.as_json)
    costed = cost_campaign_design(options.campaign, options.genome, options.board_names,
                                  loading=lambda name: console.status(f"reading the shape of {name} ..."))
    if options.as_json:
        print(json.dumps(costed.to_dict(), indent=2))
        return
    console.print(_design_line(costed))
    for board in costed.boards:
        console.print(_board_table(board, costed.costs[board.name]))
    feasible = costed.feasible_on
    console.print(f"feasible on {len(feasible)} of {len(costed.costs)} boards"
                  + (f": {', '.join(feasible)}" if feasible else "")
                  + ".  Figures marked * rest on assumed profile figures (hw_profiles/README.md).")


def _design_line(costed: DesignCost) -> str:
    campaign, design, s = costed.campaign, costed.design, costed.summary
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
    from rich.table import Table

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
