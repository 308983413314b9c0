"""``explore init``: a campaign from a data file, and the baseline's budget headroom per board."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from explore.cost.result import BoardCost

LAYOUT_CHOICES = ("nlc", "ncl", "nhwc", "nchw")


@dataclass(frozen=True)
class InitCommandOptions:
    data: Path
    board_names: tuple[str, ...]
    family: str | None
    layout: str | None
    out: Path
    force: bool


@click.command()
@click.option("--data", type=click.Path(path_type=Path), required=True, metavar="FILE",
              help="The data: an .npz archive (x, y and optionally x_test, y_test) or a .csv table with a\n"
                   "'label' column.")
@click.option("--board", "board_names", multiple=True, metavar="NAME",
              help="Board profile name or YAML file; repeat for several.  Default: nrf52840.")
@click.option("--family", default=None, metavar="F",
              help="Model family (explore families).  Default: mbednet for series, dscnn for images.")
@click.option("--layout", type=click.Choice(LAYOUT_CHOICES), default=None,
              help="How x is stored: nlc/ncl series (channels last/first), nhwc/nchw images.\n"
                   "Needed where the channel-last reading is implausible, e.g. (N, 1, 512).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("campaign.yaml"),
              show_default=True, help="The campaign file to write.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def init(**params: Any) -> None:
    """Draft a campaign for your own data, ready for explore check and run.

    \b
    Reads FILE as a campaign would and prints what it inferred:
      how x is read (layout), the sample shape, the classes and their
      balance, and whether the file holds a test split (x_test, y_test;
      else 20 % is held out);
    picks a model family for the samples' rank; sizes the batches and the
    AGP pruning schedule to the training split; writes a commented campaign
    (baseline, search space, objectives) that explore check accepts; and
    prints the baseline's cost against each board's budgets.

    \b
    Channel-first arrays (PyTorch's (N, C, L) or (N, C, H, W)) need
    --layout ncl or nchw; where the channel-last reading is implausible
    (more channels than positions), init refuses and says so.

    \b
    Example:
      explore init --data ecg.npz --layout ncl --board nrf52840 --board rp2040
      explore check campaign.yaml && explore run campaign.yaml
    """
    options = InitCommandOptions(**params)
    from explore.campaign.init import InitOptions, draft_campaign
    from explore.cost.campaign_cost import cost_campaign_design

    draft = draft_campaign(InitOptions(options.data, options.out, options.board_names, options.family,
                                       options.layout, options.force))
    for line in draft.inferred_lines():
        print(line)
    print(f"wrote {draft.path}")
    costed = cost_campaign_design(draft.path, None, ())
    print(f"baseline: {costed.summary['params']:,} parameters, {costed.summary['layers']} layers; "
          "headroom against each board's budgets:")
    for board in costed.boards:
        print("  " + headroom_line(costed.costs[board.name]))
    print(f"next: explore check {draft.path}; explore evaluate {draft.path}; explore run {draft.path}")


def headroom_line(cost: BoardCost) -> str:
    """One board: training SRAM and flash against their budgets, the latencies against theirs."""
    sram, flash = cost.sram_bytes, cost.flash_bytes
    parts = [_bytes_headroom("training SRAM", sram.total, sram.budget),
             _bytes_headroom("flash", flash.total, flash.budget),
             f"{cost.train_latency_ms:.2f} ms per training sample"]
    verdict = "fits" if cost.feasible else "OVER BUDGET: " + ", ".join(v.budget for v in cost.violations)
    return f"{cost.board}: {verdict}; " + "; ".join(parts)


def _bytes_headroom(what: str, used: int, budget: int) -> str:
    left = budget - used
    kib = 1024
    state = f"{left / kib:,.1f} KiB free" if left >= 0 else f"{-left / kib:,.1f} KiB over"
    return f"{what} {used / kib:,.1f} of {budget / kib:,.1f} KiB ({state})"
