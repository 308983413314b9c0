"""The gradient search's designs as the first trials of a study (issue 8): train the supernet, run
the gradient search and enqueue its proposals, once per study."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import optuna

from explore.campaign import Campaign, campaign_board
from explore.io import write_json_atomic
from explore.search import SlotLock, count_trials

if TYPE_CHECKING:  # the gradient search loads JAX; only a study that uses it pays for that
    from explore.search.dnas.gradient import DnasResult

#: ``report(stage, done, total)`` for the supernet's epochs and the gradient runs
StageProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Proposals:
    """The designs the gradient search put into the study.  ``result`` is None when an earlier
    ``explore run`` enqueued them (only their count is then known)."""

    count: int
    result: DnasResult | None = None
    details: Path | None = None       # dnas.json


def propose_designs(campaign: Campaign, study: optuna.Study, storage: str, target: int, results: Path,
                    progress: Callable[[], AbstractContextManager[StageProgress]]) -> Proposals | None:
    """Enqueue the gradient search's designs unless the study has them; None if no slot is left.

    The slot lock keeps workers (here or elsewhere) from sampling before the proposals are in.
    ``progress()`` is entered around the supernet training and the gradient search."""
    from explore.data import load_dataset
    from explore.search.dnas.gradient import DnasSettings, propose

    with SlotLock(storage, campaign.name).held():
        if "dnas" in study.user_attrs:
            return Proposals(study.user_attrs["dnas"]["proposals"])
        wanted = min(campaign.search.sampler.proposal_count(target), target - count_trials(study.get_trials()).occupied)
        if wanted <= 0:
            return None
        sampler = campaign.search.sampler
        settings = DnasSettings(proposals=wanted, supernet_epochs=sampler.supernet_epochs or campaign.pretrain.epochs,
                                steps=sampler.search_steps, seed=campaign.seed,
                                batch_size=campaign.pretrain.batch_size, supernet_lr=campaign.pretrain.lr)
        data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
        boards = [campaign_board(campaign, name) for name in campaign.boards]
        with progress() as report:
            result = propose(campaign, boards, data.x_train, data.y_train, data.x_val, data.y_val, data.num_classes,
                             settings, report)
        for proposal in result.proposals:
            study.enqueue_trial(proposal.params, user_attrs={"dnas_proposal": {
                "supernet_loss": proposal.supernet_loss, "weights": proposal.weights}})
        details = results / campaign.name / "dnas.json"
        write_json_atomic(details, result.summary())
        study.set_user_attr("dnas", {"proposals": len(result.proposals), "runs": result.runs,
                                     "feasible_fraction": result.feasible_fraction, "seconds": result.seconds})
    return Proposals(len(result.proposals), result, details)
