"""``explore report``: open a campaign's study, draw its figures and write index.html, pareto.csv and
summary.md."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import optuna
from optuna.trial import FrozenTrial

from explore.campaign import Campaign
from explore.errors import BadInput
from explore.io import write_text_atomic
from explore.report.pareto import (board_fronts_figure, csv_text, curves_figure, front_rows, front_table, html_page,
                                   hypervolume_figure, importance_figure, latency_figure, markdown, memory_figure,
                                   trial_rows)
from explore.search import count_trials, existing_study, is_feasible_complete, load_search_campaign


def accuracy_importances(campaign: Campaign, trials: Sequence[FrozenTrial]) -> dict[str, float] | None:
    """Parameter importance for accuracy over the trained designs; None when there are too few."""
    names = [o.name for o in campaign.search.objectives]
    trained = [t for t in trials if is_feasible_complete(t)]
    if "accuracy" not in names or len(trained) < 3:
        return None
    study = optuna.create_study(directions=[o.resolved_direction for o in campaign.search.objectives])
    study.add_trials(trained)
    index = names.index("accuracy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return optuna.importance.get_param_importances(study, target=lambda t: t.values[index])
        except (RuntimeError, ValueError):  # e.g. every trial has the same parameters
            return None


@dataclass(frozen=True)
class WrittenReport:
    out: Path           # holds index.html, pareto.csv and summary.md
    front_size: int
    figures: int


def write_report(campaign_path: Path, out: Path | None, storage: str | None, results: Path) -> WrittenReport:
    """Write the report of the campaign's study into ``out`` (default: ``results/<campaign>/report``)."""
    campaign = load_search_campaign(campaign_path)
    study, _ = existing_study(campaign, campaign_path, storage, results)
    trials = study.get_trials(deepcopy=False)
    counts = count_trials(trials)
    if counts.complete == 0:
        raise BadInput(f"{campaign_path}: study {campaign.name!r} has no finished feasible trial yet "
                       f"({counts.finished} finished); run explore run {campaign_path} first")
    out = out or results / campaign.name / "report"
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out: {out} is a file; give a directory")
    rows, front = trial_rows(campaign, trials), front_rows(campaign, trials)
    front_set = {r.number for r in front}
    sections = [(f"Pareto front on {b}", board_fronts_figure(campaign, rows, front_set, b)) for b in campaign.boards]
    sections.append(("Hypervolume over trials", hypervolume_figure(campaign, trials)))
    importances = accuracy_importances(campaign, trials)
    if importances:
        sections.append(("Parameter importance", importance_figure(importances)))
    for board in campaign.boards:
        sections.append((f"Memory of the front on {board}", memory_figure(campaign, front, board)))
        sections.append((f"Latency of the front on {board}", latency_figure(front, board)))
    sections.append(("Training curves of the front", curves_figure(front)))
    header, table = front_table(campaign, front)
    shown = {"complete": counts.complete, "infeasible": counts.infeasible, "stopped early": counts.pruned,
             "failed": counts.failed}
    write_text_atomic(out / "pareto.csv", csv_text(header, table))
    write_text_atomic(out / "summary.md", markdown(campaign, header, table, shown))
    write_text_atomic(out / "index.html", html_page(campaign, sections, header, table, shown))
    return WrittenReport(out, len(front), len(sections))
