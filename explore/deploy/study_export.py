"""``explore export``: firmware bundles of chosen trials of a campaign's study, one directory each."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from optuna.trial import FrozenTrial, TrialState

from explore.campaign import Campaign, campaign_board, location, resolve_genome
from explore.deploy.bundle import export_bundle
from explore.errors import BadInput
from explore.model.artifacts import load_quantized
from explore.search import existing_study, load_search_campaign, pareto_front

_STATES = {TrialState.PRUNED: "was stopped early", TrialState.FAIL: "failed", TrialState.RUNNING: "is still running",
           TrialState.WAITING: "is waiting to run"}

#: ``written(trial_number, board_name, bundle_dir)``, after each bundle
Written = Callable[[int, str, Path], None]


def _board_name(campaign: Campaign, board: str | None) -> str:
    if not campaign.boards:
        raise BadInput(f"{location(campaign)}boards: export needs a board; the campaign names none")
    if board is None:
        return campaign.boards[0]
    if board not in campaign.boards:
        raise BadInput(f"--board: must be one of the campaign's boards {', '.join(campaign.boards)} (got {board})")
    return board


def _check_out(out: Path, create: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out: must be a directory, {out} is a file")
    if not create:
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BadInput(f"--out: cannot create the directory {out} ({e.strerror or e})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise BadInput(f"--out: the directory {out} is not writable")


def _finished(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def chosen_trials(campaign: Campaign, trials: list[FrozenTrial], trial: int | None, pareto: bool) -> list[FrozenTrial]:
    """The trials to export: trial number ``trial``, or the Pareto front; BadInput says why not."""
    if not _finished(trials):
        raise BadInput(f"{campaign.name}: the study has no finished trials yet; run explore run first "
                       f"(got {len(trials)} unfinished)")
    if pareto:
        directions = [o.resolved_direction for o in campaign.search.objectives]
        front = pareto_front(trials, directions)
        if not front:
            raise BadInput(f"--pareto: {campaign.name} has no feasible completed trial, so no front to export")
        return front
    by_number = {t.number: t for t in trials}
    if trial not in by_number:
        raise BadInput(f"--trial: must be a trial of {campaign.name}, numbers 0..{max(by_number)} (got {trial})")
    chosen = by_number[trial]
    if chosen.state != TrialState.COMPLETE:
        raise BadInput(f"--trial: trial {trial} {_STATES.get(chosen.state, chosen.state.name.lower())}, "
                       "so it has no trained model to export")
    if chosen.user_attrs.get("infeasible"):
        raise BadInput(f"--trial: trial {trial} is infeasible (over a budget), so nothing was trained to export")
    return [chosen]


def _artefacts(trial: FrozenTrial) -> tuple[dict, Path]:
    paths = trial.user_attrs.get("artefacts") or {}
    metrics_path, model_path = Path(paths.get("metrics", "")), Path(paths.get("model", ""))
    if not paths or not metrics_path.is_file() or not model_path.is_file():
        raise BadInput(f"--trial: trial {trial.number}'s artefacts are missing (looked for "
                       f"{paths.get('model') or 'model.npz'}); was results/ moved or deleted?")
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, ValueError) as e:
        raise BadInput(f"{metrics_path}: not a readable metrics file ({e})") from None
    return metrics, model_path


def _unannounced(number: int, board: str, path: Path) -> None:
    pass


def export_trials(campaign_path: Path, trial: int | None, pareto: bool, board: str | None, out: Path,
                  storage: str | None, results: Path, written: Written = _unannounced) -> list[Path]:
    """Write one bundle per chosen trial (``trial``, or the front with ``pareto``) into ``out/<trial>/``
    for ``board`` (default: the campaign's first); returns the bundle directories."""
    if (trial is None) == (not pareto):
        raise BadInput("--trial/--pareto: give exactly one of --trial N and --pareto "
                       f"(got {'both' if pareto else 'neither'})")
    if trial is not None and trial < 0:
        raise BadInput(f"--trial: must be a trial number, 0 or more (got {trial})")
    campaign = load_search_campaign(Path(campaign_path))
    profile = campaign_board(campaign, _board_name(campaign, board))
    out = Path(out)
    _check_out(out, create=False)
    study, _ = existing_study(campaign, campaign_path, storage, Path(results))
    chosen = chosen_trials(campaign, study.get_trials(deepcopy=False), trial, pareto)
    loaded = [(t, *_artefacts(t)) for t in chosen]   # every artefact is checked before any bundle is written
    _check_out(out, create=True)
    paths = []
    for t, metrics, model_path in loaded:
        model = load_quantized(model_path)
        genome = resolve_genome(campaign, t.user_attrs.get("genome") or metrics.get("genome") or {},
                                f"trial {t.number}: genome")
        try:
            path = export_bundle(campaign, t.number, genome, metrics, model, profile, out)
        except PermissionError as e:
            raise BadInput(f"--out: cannot write into {out} ({e.strerror or e})") from None
        written(t.number, profile.name, path)
        paths.append(path)
    return paths
