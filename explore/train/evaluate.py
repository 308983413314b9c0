"""``explore evaluate``: one design point of a campaign end to end, from the campaign file to
``metrics.json`` and ``model.npz``.  How progress is shown is the caller's :class:`EvaluateDisplay`."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from explore.campaign import campaign_data, load_campaign, load_genome, resolve_genome
from explore.data import Dataset
from explore.train.compile_cache import compilation_cache
from explore.train.pipeline import Progress, check_design, evaluate_design

#: Where results/<campaign>/ lives unless a command is told otherwise (``--results``).
RESULTS_DIR = Path("results")


def default_out_dir(campaign_name: str) -> Path:
    return RESULTS_DIR / campaign_name / "evaluate"


class EvaluateDisplay(Protocol):
    def loading(self, dataset_name: str) -> AbstractContextManager[Any]:
        """Entered while the data set is read."""

    def training(self, dataset_name: str, data: Dataset) -> AbstractContextManager[Progress]:
        """Entered around the pipeline, once the design is known to be valid input."""


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, Any]
    out_dir: Path       # holds metrics.json and model.npz


def evaluate_campaign(campaign_path: Path, genome_path: Path | None, out_dir: Path | None,
                      display: EvaluateDisplay) -> Evaluation:
    """Evaluate the genome in ``genome_path`` (default: the campaign's baseline) into ``out_dir``
    (default: ``results/<campaign>/evaluate``)."""
    campaign = load_campaign(campaign_path)
    genome = load_genome(genome_path) if genome_path else campaign.baseline
    genome = resolve_genome(campaign, genome, str(genome_path) if genome_path else f"{campaign_path}: baseline")
    out_dir = out_dir or default_out_dir(campaign.name)
    # Everything that can be bad input is checked before training starts, so that a display can
    # keep bad input to one line.
    with display.loading(campaign.dataset.name):
        data = campaign_data(campaign)
    check_design(genome, data)
    # Compiled programs are shared with the campaign's workers and with re-runs, as a trial's are.
    with display.training(campaign.dataset.name, data) as progress, compilation_cache(RESULTS_DIR / campaign.name):
        metrics = evaluate_design(campaign, genome, out_dir=out_dir, data=data, progress=progress)
    return Evaluation(metrics, out_dir)
