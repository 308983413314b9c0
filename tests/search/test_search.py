"""Genome sampling from a campaign's search section through real Optuna samplers."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from explore.campaign import load_campaign, resolve_genome
from explore.cost import design_from_genome
from explore.search.sampling import sample_genome

QUICKSTART = Path(__file__).resolve().parents[2] / "search_spaces" / "quickstart.yaml"


@pytest.mark.parametrize("sampler", [optuna.samplers.RandomSampler(seed=1), optuna.samplers.TPESampler(seed=1),
                                     optuna.samplers.NSGAIISampler(seed=1, population_size=4)])
def test_sampled_genomes_resolve_inside_the_space(sampler) -> None:
    campaign = load_campaign(QUICKSTART)
    space = campaign.search.space
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    seen = set()
    for _ in range(12):
        trial = study.ask()
        resolved = resolve_genome(campaign, sample_genome(trial, campaign), "trial")
        genome = resolved.to_dict()
        assert 0.2 <= genome["lambda_min"] <= genome["lambda_max"] <= 1.0
        assert space["width"].low <= genome["width"] <= space["width"].high
        assert genome["kernel"] in (3, 5) and genome["config"] in ("uint8", "mixed")
        assert genome["head_channels"] in (32, 48, 64, 80, 96)
        assert 1 <= genome["trainable_last"] <= 3
        assert genome["depth1"] == campaign.baseline["depth1"]  # unsearched keys stay at the baseline
        design = design_from_genome(resolved, campaign.pruning, campaign.on_device.batch_size, (40, 1), 10)
        assert len(design.trainable) == genome["trainable_last"]
        seen.add((genome["stages"], genome["kernel"], genome["config"]))
        study.tell(trial, [genome["width"], genome["lambda_min"]])
    assert len(seen) > 3  # the samplers really vary the design


def test_explicit_trainable_sets_become_the_genome_trainable(tmp_path: Path) -> None:
    text = QUICKSTART.read_text().replace("trainable: {last: {low: 1, high: 3}}",
                                          "trainable: {sets: [[11, 13], [13]]}")
    text = text.replace("stages: {low: 2, high: 4}", "stages: {choices: [3]}")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    campaign = load_campaign(path)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    chosen = set()
    for _ in range(10):
        genome = resolve_genome(campaign, sample_genome(study.ask(), campaign), "trial")
        assert "trainable_last" not in genome.to_dict() and genome.trainable_last is None
        spec = design_from_genome(genome, campaign.pruning, campaign.on_device.batch_size, (40, 1), 10).spec
        chosen.add(genome.trainable_layers(spec))
    assert chosen == {(11, 13), (13,)}
