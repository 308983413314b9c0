"""The Pareto report of a campaign (issue 6): plain rows from the study's trials, figures drawn from
them, and the files ``index.html`` (self-contained: figures are inline PNGs), ``pareto.csv`` and
``summary.md``.

Figures speak the paper's language: accuracy against each cost with the budget as a red dashed
line, memory split by segment against the board's limits, latency split into forward, backward and
update.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402

from explore.campaign import Campaign, campaign_board  # noqa: E402
from explore.cost.result import BoardCost, costs_from_dict  # noqa: E402
from explore.search.hypervolume import hypervolume_curve, shared_reference  # noqa: E402
from explore.search.front import pareto_front  # noqa: E402
from explore.search import objective_labels  # noqa: E402

#: Axes of the per-board scatter plots: (label, the figure of a board's costs, the board's budget, unit scale).
COST_AXES = (("training SRAM (KB)", lambda c: c.sram_bytes.total, lambda b: b.sram_budget, 1 / 1024),
             ("latency per training sample (ms)", lambda c: c.train_latency_ms, lambda b: b.budgets.train_latency_ms,
              1.0),
             ("flash (KB)", lambda c: c.flash_bytes.total, lambda b: b.flash_budget, 1 / 1024))


#: Each board's figures in the front table (after its objectives): SRAM, flash, latency per training sample.
FRONT_TABLE_COSTS = (lambda c: c.sram_bytes.total, lambda c: c.flash_bytes.total, lambda c: c.train_latency_ms)


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # complete | infeasible | stopped | failed
    values: dict[str, float]
    accuracy: float | None
    genome: dict[str, Any]
    costs: dict[str, BoardCost]  # per board: refined after training, else the estimate before it
    history: dict | None  # metrics.json's training histories (trained trials)


def _state(trial: FrozenTrial) -> str:
    if trial.state == TrialState.COMPLETE:
        return "infeasible" if trial.user_attrs.get("infeasible") else "complete"
    return {TrialState.PRUNED: "stopped", TrialState.FAIL: "failed"}.get(trial.state, trial.state.name.lower())


def trial_rows(campaign: Campaign, trials: Sequence[FrozenTrial]) -> list[TrialRow]:
    """One row per finished trial, with what the figures and tables need."""
    labels = objective_labels(campaign)
    rows = []
    for t in trials:
        if not t.state.is_finished() or t.state == TrialState.FAIL:
            continue
        metrics = t.user_attrs.get("metrics", {})
        costs = metrics.get("cost") or t.user_attrs.get("cost_estimate", {})
        history = None
        path = t.user_attrs.get("artefacts", {}).get("metrics")
        if path and Path(path).is_file():
            history = json.loads(Path(path).read_text()).get("history")
        stopped = t.user_attrs.get("early_stop", {})
        accuracy = t.values[labels.index("accuracy")] if t.values and "accuracy" in labels else \
            stopped.get("check_accuracy")
        rows.append(TrialRow(t.number, _state(t), dict(zip(labels, t.values or [])), accuracy,
                             t.user_attrs.get("genome", {}), costs_from_dict(costs), history))
    return rows


def _cost(row: TrialRow, board: str, figure: Callable[[BoardCost], float]) -> float | None:
    """``figure`` of the row's costs on ``board``; None where the row has none there."""
    cost = row.costs.get(board)
    return None if cost is None else float(figure(cost))


def _png(fig: plt.Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def board_fronts_figure(campaign: Campaign, rows: list[TrialRow], front: set[int], board: str) -> str:
    """Accuracy against training SRAM, latency per training sample and flash on one board."""
    profile = campaign_board(campaign, board)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, (label, figure, budget_of, scale) in zip(axes, COST_AXES):
        groups = {"complete": ("tab:blue", "o", "trained"), "stopped": ("tab:gray", "^", "stopped early"),
                  "infeasible": ("tab:orange", "x", "infeasible (not trained)")}
        for state, (color, marker, name) in groups.items():
            pts = [(_cost(r, board, figure), r.accuracy or 0.0) for r in rows if r.state == state]
            pts = [(x * scale, y) for x, y in pts if x is not None]
            if pts:
                ax.scatter(*zip(*pts), c=color, marker=marker, label=name, alpha=0.75)
        best = sorted((_cost(r, board, figure) * scale, r.accuracy) for r in rows if r.number in front
                      and _cost(r, board, figure) is not None)
        if best:
            ax.scatter(*zip(*best), s=90, facecolors="none", edgecolors="tab:red", label="Pareto front")
        budget = budget_of(profile)
        if budget:
            ax.axvline(budget * scale, color="tab:red", linestyle="--", label="budget")
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{board}: accuracy against costs")
    return _png(fig)


def hypervolume_figure(campaign: Campaign, trials: Sequence[FrozenTrial]) -> str:
    curve = hypervolume_curve(campaign, list(trials), shared_reference(campaign, [list(trials)])) if trials else []
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(range(1, len(curve) + 1), [p["hypervolume"] for p in curve], marker=".")
    ax.set_xlabel("finished trials")
    ax.set_ylabel("hypervolume")
    ax.set_title("hypervolume of the feasible front")
    ax.grid(alpha=0.3)
    return _png(fig)


def importance_figure(importances: dict[str, float]) -> str:
    fig, ax = plt.subplots(figsize=(7, 0.4 * max(len(importances), 3) + 1))
    names = list(importances)[::-1]
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance for accuracy (Optuna, PED-ANOVA)")
    ax.set_title("parameter importance")
    return _png(fig)


def memory_figure(campaign: Campaign, rows: list[TrialRow], board: str) -> str:
    """Training SRAM by segment and flash per front design, against the board's limits (Fig. 4c/4d)."""
    profile = campaign_board(campaign, board)
    names = [f"#{r.number}" for r in rows]
    fig, (sram_ax, flash_ax) = plt.subplots(1, 2, figsize=(13, 3.8))
    bottom = np.zeros(len(rows))
    for segment, color in (("arena", "tab:blue"), ("trainable", "tab:orange"), ("statics", "tab:green")):
        sizes = np.array([(_cost(r, board, lambda c: getattr(c.sram_bytes, segment)) or 0) / 1024 for r in rows])
        sram_ax.bar(names, sizes, bottom=bottom, label=segment, color=color)
        bottom += sizes
    sram_ax.axhline(profile.sram_budget / 1024, color="tab:red", linestyle="--", label="SRAM budget")
    sram_ax.set_ylabel("training SRAM (KB)")
    sram_ax.legend(fontsize=8)
    flash_kb = [(_cost(r, board, lambda c: c.flash_bytes.total) or 0) / 1024 for r in rows]
    flash_ax.bar(names, flash_kb, color="tab:purple")
    flash_ax.axhline(profile.flash_budget / 1024, color="tab:red", linestyle="--", label="flash budget")
    flash_ax.set_ylabel("flash (KB)")
    flash_ax.legend(fontsize=8)
    fig.suptitle(f"{board}: memory of the front designs")
    return _png(fig)


def latency_figure(rows: list[TrialRow], board: str) -> str:
    """Latency per training sample split into forward, backward and update (Fig. 4b)."""
    names = [f"#{r.number}" for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    bottom = np.zeros(len(rows))
    for part, color in (("forward", "tab:blue"), ("backward", "tab:orange"), ("update", "tab:green")):
        ms = np.array([_cost(r, board, lambda c: getattr(c.latency_ms, part)) or 0 for r in rows])
        ax.bar(names, ms, bottom=bottom, label=part, color=color)
        bottom += ms
    ax.set_ylabel("ms per training sample")
    ax.set_title(f"{board}: latency of the front designs")
    ax.legend(fontsize=8)
    return _png(fig)


def curves_figure(rows: list[TrialRow]) -> str:
    fig, (pre_ax, dev_ax) = plt.subplots(1, 2, figsize=(13, 3.8))
    for r in rows:
        if not r.history:
            continue
        pre = [h for h in r.history.get("pretrain", []) if h.get("val_accuracy") is not None]
        pre_ax.plot([h["epoch"] for h in pre], [h["val_accuracy"] for h in pre], label=f"#{r.number}")
        dev = r.history.get("on_device", [])
        dev_ax.plot([h["epoch"] for h in dev], [h["check_accuracy"] for h in dev], label=f"#{r.number}")
    pre_ax.set_title("float pre-training (validation accuracy)")
    dev_ax.set_title("on-device training (validation accuracy)")
    for ax in (pre_ax, dev_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)


# --- tables ------------------------------------------------------------------------------------------------


def front_table(campaign: Campaign, rows: list[TrialRow]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the front table: trial, objectives, every board's main costs, genome."""
    labels = objective_labels(campaign)
    header = ["trial", *labels]
    for board in campaign.boards:
        header += [f"sram_total@{board}", f"flash_total@{board}", f"train_latency_ms@{board}"]
    keys = sorted({k for r in rows for k in r.genome})
    header += keys
    table = []
    for r in rows:
        line = [str(r.number), *(_fmt(r.values.get(label)) for label in labels)]
        for board in campaign.boards:
            line += [_fmt(_cost(r, board, figure)) for figure in FRONT_TABLE_COSTS]
        line += [_fmt(r.genome.get(k)) for k in keys]
        table.append(line)
    return header, table


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{int(value)}" if value.is_integer() and abs(value) >= 10 else f"{value:.4g}"
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)


def csv_text(header: list[str], table: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(table)
    return buffer.getvalue()


def markdown(campaign: Campaign, header: list[str], table: list[list[str]], counts: dict[str, int]) -> str:
    lines = [f"# {campaign.name}: Pareto front", "",
             "Trials: " + ", ".join(f"{k} {v}" for k, v in counts.items()), "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    return "\n".join(lines) + "\n"


def html_page(campaign: Campaign, sections: list[tuple[str, str]], header: list[str], table: list[list[str]],
              counts: dict[str, int]) -> str:
    """``sections``: (title, base64 PNG) pairs, in order; the front table comes after the first one."""
    def image(title: str, data: str) -> str:
        return (f'<section><h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" '
                f'src="data:image/png;base64,{data}"></section>')

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table)
    table_html = (f'<section><h2>Pareto front ({len(table)} designs)</h2><div class="scroll">'
                  f'<table id="front"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></section>')
    parts = [image(*sections[0]), table_html, *(image(*s) for s in sections[1:])] if sections else [table_html]
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>explore report: {html.escape(campaign.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }}
img {{ max-width: 100%; }} .scroll {{ overflow-x: auto; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border: 1px solid #ccc; padding: 3px 6px; }}
th {{ background: #f0f0f0; }} tr:nth-child(even) td {{ background: #fafafa; }}
</style></head><body>
<h1>explore report: {html.escape(campaign.name)}</h1>
<p>Trials: {html.escape(summary)}. Objectives: {html.escape(", ".join(objective_labels(campaign)))}.</p>
{"".join(parts)}
</body></html>
"""


def front_rows(campaign: Campaign, trials: Sequence[FrozenTrial]) -> list[TrialRow]:
    directions = [o.resolved_direction for o in campaign.search.objectives]
    numbers = {t.number for t in pareto_front(trials, directions)}
    return [r for r in trial_rows(campaign, trials) if r.number in numbers]
