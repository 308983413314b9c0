"""Differentiable design-space exploration (issue 8): the relaxed cost model, the supernet, the
gradient search and the dnas samplers, on the shipped campaigns and a real journal study."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optuna
import pytest
import yaml

from checks import assert_one_line_naming
from explore.campaign import campaign_board, load_campaign, resolve_genome
from explore.cost import cost_design, design_from_genome
from explore.data import load_dataset
from explore.search.dnas.costs import COST_FIELDS, LatticeCosts
from explore.search.dnas.gradient import DnasSettings, propose, supernet_population
from explore.model.families import SUPERNET_TAILS
from explore.train.floatnet import float_forward
from explore.search.dnas.lattice import design_lattice, genome_at, simplex_of
from explore.search.sampling import constraint_values
from explore.train.supernet import build_supernet, masks_for, network_forward, skeleton, train_supernet

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGNS = {"quickstart": ((40, 1), 10), "digits_three_boards": ((8, 8, 1), 10)}

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _lattice_costs(name: str) -> LatticeCosts:
    campaign = load_campaign(ROOT / "search_spaces" / f"{name}.yaml")
    shape, classes = CAMPAIGNS[name]
    boards = [campaign_board(campaign, b) for b in campaign.boards]
    return LatticeCosts(campaign, boards, design_lattice(campaign), shape, classes)


def _exact_vector(costs: LatticeCosts, genome: dict) -> np.ndarray:
    """The exact cost model's figures, read straight from cost_design's stored (dict) form."""
    design = design_from_genome(resolve_genome(costs.campaign, genome, "genome"), costs.campaign.pruning,
                                costs.campaign.on_device.batch_size, costs.input_shape, costs.num_classes)
    by_board = cost_design(design, costs.boards)
    values = []
    for board in costs.boards:
        stored = by_board[board.name].to_dict()
        for label in COST_FIELDS:
            entry = stored[label]
            values.append(entry["total"] if isinstance(entry, dict) else entry)
    return np.array(values + constraint_values(costs.campaign, by_board), np.float64)


@pytest.mark.parametrize("name", list(CAMPAIGNS))
def test_relaxed_cost_model_equals_the_exact_model_at_lattice_points(name: str) -> None:
    costs = _lattice_costs(name)
    lattice = costs.lattice
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(12):
        point = np.array([rng.integers(a.size) for a in lattice.axes])
        combo = tuple(c.values[rng.integers(len(c.values))] for c in lattice.categoricals)
        genome = genome_at(costs.campaign, lattice.params(point, combo))
        try:
            expected = _exact_vector(costs, genome)
        except Exception:  # a lattice point that does not build (more trainable layers than layers)
            assert not costs.exact(point, combo).valid
            continue
        relaxed = costs.value(point.astype(np.float64), combo)
        np.testing.assert_array_equal(relaxed, expected)
        checked += 1
    assert checked >= 8


def test_a_lattice_point_is_the_genome_explore_cost_prices(tmp_path: Path) -> None:
    """The lattice's parameters go through the sampler's own genome code; `explore cost` agrees."""
    costs = _lattice_costs("quickstart")
    point = np.array([a.size // 2 for a in costs.lattice.axes])
    combo = costs.lattice.combos()[-1]
    genome = genome_at(costs.campaign, costs.lattice.params(point, combo))
    (tmp_path / "g.json").write_text(json.dumps(genome))
    run = subprocess.run([sys.executable, "-m", "explore", "cost", str(ROOT / "search_spaces" / "quickstart.yaml"),
                          "--genome", str(tmp_path / "g.json"), "--json"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    board = json.loads(run.stdout)["boards"]["nrf52840"]
    relaxed = dict(zip(costs.labels, costs.value(point.astype(np.float64), combo)))
    assert relaxed["sram_bytes@nrf52840"] == board["sram_bytes"]["total"]
    assert relaxed["flash_bytes@nrf52840"] == board["flash_bytes"]["total"]
    assert relaxed["train_latency_ms@nrf52840"] == board["train_latency_ms"]
    assert relaxed["energy_mj_per_sample@nrf52840"] == board["energy_mj_per_sample"]


@pytest.mark.parametrize("name", list(CAMPAIGNS))
def test_relaxed_cost_gradients_agree_with_finite_differences(name: str) -> None:
    costs = _lattice_costs(name)
    lattice = costs.lattice
    rng = np.random.default_rng(2)
    moved = np.zeros(len(lattice.axes), bool)
    for _ in range(6):
        # Inside a cell, away from faces and ties, so the finite difference stays in one simplex.
        base = np.array([rng.integers(max(a.size - 1, 1)) for a in lattice.axes], np.float64)
        x = base + rng.permutation(np.linspace(0.15, 0.85, len(lattice.axes)))
        combo = lattice.combos()[rng.integers(len(lattice.combos()))]
        if not all(costs.exact(v, combo).valid for v in simplex_of(x, lattice.upper).vertices):
            continue
        with jax.enable_x64(True):
            jacobian = np.asarray(jax.jacfwd(costs.relaxed(x, combo))(jnp.asarray(x)))
        h = 1e-3  # linear inside a simplex: the difference is exact up to rounding (fractions differ by > 2h)
        scale = 1e-9 * (1.0 + np.abs(costs.value(x, combo))) / h
        for j in range(len(x)):
            step = np.zeros_like(x)
            step[j] = h
            numeric = (costs.value(x + step, combo) - costs.value(x - step, combo)) / (2 * h)
            assert np.all(np.abs(jacobian[:, j] - numeric) <= 1e-6 * np.abs(numeric) + scale), (j, jacobian[:, j], numeric)
        moved |= np.any(jacobian[: len(costs.labels)] != 0, axis=0)
    channel_axis = [a.name for a in lattice.axes].index("width" if name == "quickstart" else "channels")
    assert moved[channel_axis], "channel counts must move the costs"
    assert moved[[a.name for a in lattice.axes].index("trainable_last")], "the trainable-depth gate must move the costs"


def test_relaxed_costs_are_continuous_across_simplices() -> None:
    costs = _lattice_costs("quickstart")
    rng = np.random.default_rng(3)
    combo = costs.lattice.combos()[0]
    for _ in range(5):
        x = rng.uniform(0, costs.lattice.upper)
        j = rng.integers(len(x))
        x[j] = np.floor(x[j]) + 1.0 if x[j] + 1 <= costs.lattice.upper[j] else np.floor(x[j])
        below, above = x.copy(), x.copy()
        below[j] -= 1e-9
        above[j] += 1e-9
        np.testing.assert_allclose(costs.value(below, combo), costs.value(above, combo), rtol=1e-6)


# --- supernet ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_supernet():
    costs = _lattice_costs("digits_three_boards")
    data = load_dataset(costs.campaign.dataset, costs.campaign.base_dir, costs.campaign.seed)
    cover, population = supernet_population(costs, np.random.default_rng(0))
    supernet = build_supernet(cover, SUPERNET_TAILS["cnn"], 0)
    before = {s: supernet.loss(s, data.x_val, data.y_val) for s in population[:6]}
    train_supernet(supernet, population, data.x_train, data.y_train, epochs=4, batch_size=32, lr=3e-3, seed=0)
    return costs, data, population, supernet, before


def test_extracted_subnetworks_compute_what_the_masked_supernet_computes(digits_supernet) -> None:
    costs, data, population, supernet, _ = digits_supernet
    x = data.x_val[:64]
    skeletons = set()
    for spec in population[:12]:
        layout = supernet.layouts[skeleton(spec)]
        skeletons.add(skeleton(spec))
        masked = network_forward(layout.spec, {i: {"w": w["w"], "b": w["b"]} for i, w in
                                               _layout_params(supernet, layout).items()}, jnp.asarray(x),
                                 {i: {k: jnp.asarray(v) for k, v in m.items()} for i, m in masks_for(layout, spec).items()})
        extracted = supernet.extract(spec)
        simulated = float_forward(extracted, x)  # the FQT simulator's float path
        np.testing.assert_allclose(np.asarray(masked), np.asarray(simulated), rtol=1e-4, atol=1e-4)
    assert len(skeletons) > 1, "the population must span several depths"


def _layout_params(supernet, layout):
    from explore.train.supernet import _layout_weights

    return _layout_weights(layout, supernet.weights)


def test_sub_networks_share_their_weights_across_widths_and_depths(digits_supernet) -> None:
    costs, _, population, supernet, _ = digits_supernet
    by_depth = {}
    for spec in population:
        by_depth.setdefault(sum(1 for layer in spec.layers if type(layer).__name__ == "Conv"), spec)
    assert len(by_depth) >= 2
    shallow, deep = by_depth[min(by_depth)], by_depth[max(by_depth)]
    first_conv = shallow.param_layers()[0]
    a, b = supernet.extract(shallow).params[first_conv]["w"], supernet.extract(deep).params[first_conv]["w"]
    k = tuple(min(p, q) for p, q in zip(a.shape[:-2], b.shape[:-2]))
    c = min(a.shape[-1], b.shape[-1])
    crop = lambda w: w[tuple(slice((n - m) // 2, (n - m) // 2 + m) for n, m in zip(w.shape[:-2], k))][..., :c]  # noqa: E731
    np.testing.assert_array_equal(crop(a), crop(b))


def test_supernet_training_lowers_the_loss_of_its_sub_networks(digits_supernet) -> None:
    costs, data, population, supernet, before = digits_supernet
    after = {s: supernet.loss(s, data.x_val, data.y_val) for s in before}
    print("supernet validation loss before/after:", [(round(before[s], 3), round(after[s], 3)) for s in before])
    assert all(after[s] < before[s] for s in before)
    largest = max(population, key=lambda s: sum(getattr(layer, "features", 0) for layer in s.layers))
    accuracy = supernet.accuracy(largest, data.x_val, data.y_val)
    print(f"largest sub-network accuracy {accuracy:.3f}")
    assert accuracy > 0.8


# --- gradient search -------------------------------------------------------------------------------------


def test_gradient_search_proposals_fit_every_board_budget() -> None:
    """digits_three_boards' budgets (SRAM and latency on three boards) reject many lattice points;
    the gradient search's rounded end points must fit them on the exact cost model."""
    costs = _lattice_costs("digits_three_boards")
    rng = np.random.default_rng(4)
    random_feasible = []
    for _ in range(60):
        point = [rng.integers(a.size) for a in costs.lattice.axes]
        combo = costs.lattice.combos()[rng.integers(len(costs.lattice.combos()))]
        random_feasible.append(costs.exact(point, combo).feasible)
    assert np.mean(random_feasible) < 0.8, "the budgets must bite for this test to mean anything"
    campaign = costs.campaign
    data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
    result = propose(campaign, costs.boards, data.x_train, data.y_train, data.x_val, data.y_val, data.num_classes,
                     DnasSettings(proposals=10, supernet_epochs=1, steps=30, seed=5))
    print(f"{result.runs} gradient runs, {result.feasible_fraction:.0%} feasible when rounded "
          f"(random lattice points: {np.mean(random_feasible):.0%}), {len(result.proposals)} proposals")
    assert result.feasible_fraction >= 0.95
    assert len(result.proposals) >= 5
    for proposal in result.proposals:
        exact = _exact_vector(costs, proposal.genome)
        constraints = exact[len(costs.labels):]
        assert np.all(constraints <= 0), (proposal.params, constraints)
    assert len({json.dumps(p.params, sort_keys=True) for p in result.proposals}) == len(result.proposals)


# --- the dnas samplers in a study ------------------------------------------------------------------------


def _tiny_campaign(tmp_path: Path, sampler: dict, family: str = "cnn") -> Path:
    space = {"channels": {"low": 4, "high": 12}, "hidden": {"low": 16, "high": 48, "step": 16}}
    campaign = {"name": "tiny", "seed": 3, "dataset": {"name": "digits", "validation_fraction": 0.1},
                "model": {"family": family}, "pretrain": {"epochs": 2},
                "on_device": {"config": "uint8", "trainable": 2, "epochs": 2},
                "boards": ["nrf52840"], "search": {"space": space, "lambda": {"low": 0.5, "high": 1.0},
                                                   "budgets": {"nrf52840": {"sram_bytes": 40000}},
                                                   "sampler": sampler, "trials": 4}}
    if family == "dscnn":
        campaign["search"]["space"] = {"channels": {"low": 4, "high": 12}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(campaign, sort_keys=False))
    return path


def _explore(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explore", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


def test_dnas_tpe_enqueues_its_proposals_and_the_study_evaluates_them_exactly(tmp_path: Path) -> None:
    path = _tiny_campaign(tmp_path, {"name": "dnas+tpe", "proposals": 2, "supernet_epochs": 1, "search_steps": 10})
    run = _explore("run", str(path), "--workers", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "designs enqueued" in run.stderr
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "results" / "tiny" / "study.journal")))
    study = optuna.load_study(study_name="tiny", storage=storage)
    summary = json.loads((tmp_path / "results" / "tiny" / "dnas.json").read_text())
    proposed = [t for t in study.trials if "dnas_proposal" in t.user_attrs]
    assert len(proposed) == len(summary["proposals"]) == 2 == study.user_attrs["dnas"]["proposals"]
    assert sorted(t.number for t in proposed) == [0, 1], "proposals run before the sampler's own trials"
    for trial, proposal in zip(sorted(proposed, key=lambda t: t.number), summary["proposals"]):
        assert trial.params == proposal["params"]
        assert trial.state == optuna.trial.TrialState.COMPLETE and not trial.user_attrs.get("infeasible")
        assert trial.user_attrs["genome"] == proposal["genome"]
        metrics = json.loads(Path(trial.user_attrs["artefacts"]["metrics"]).read_text())
        assert trial.values[0] == metrics["validation_accuracy"]["on_device"]
        assert trial.values[1] == metrics["cost"]["nrf52840"]["sram_bytes"]["total"] == \
            proposal["objectives"]["sram_bytes@nrf52840"]
    assert len(study.trials) == 4
    again = _explore("run", str(path), "--workers", "1", "--trials", "4", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already in the study" in again.stderr and len(optuna.load_study(study_name="tiny", storage=storage).trials) == 4


def test_a_family_without_a_supernet_is_refused_with_the_samplers_that_work(tmp_path: Path) -> None:
    path = _tiny_campaign(tmp_path, {"name": "dnas"}, family="dscnn")
    for command in (("check", str(path)), ("run", str(path))):
        result = _explore(*command, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        message = result.stderr.strip().removeprefix("explore: error: ")
        assert_one_line_naming(message, path, ["search.sampler.name", "dscnn", "tpe", "nsga2", "random"])
    assert not (tmp_path / "results").exists()


def test_bench_search_times_dnas_tpe_against_tpe_from_the_start_of_each_run(tmp_path: Path) -> None:
    """The summary of two real (tiny) studies: the dnas variant's clock starts before its supernet."""
    import datetime

    from explore.bench.search import _summarize
    from explore.search.hypervolume import shared_reference

    campaign = load_campaign(_tiny_campaign(tmp_path, {"name": "tpe"}))
    start = datetime.datetime(2026, 1, 1)
    runs = {}
    for name, offset, accuracies in (("tpe", 0, (0.5, 0.8, 0.9)), ("dnas+tpe", 100, (0.9, 0.95, 0.96))):
        study = optuna.create_study(directions=["maximize", "minimize"])
        for accuracy in accuracies:
            study.add_trial(optuna.trial.create_trial(values=[accuracy, 20000.0], user_attrs={"constraints": [-0.5]}))
        trials = study.get_trials()  # frozen copies: give them the finishing times of a real run
        for k, trial in enumerate(trials):
            trial.datetime_start = start + datetime.timedelta(seconds=offset + 10 * k)
            trial.datetime_complete = start + datetime.timedelta(seconds=offset + 10 * k + 9)
        runs[name] = {"trials": trials, "wall_seconds": offset + 40.0, "started": start}
    result = _summarize(campaign, runs, shared_reference(campaign, [r["trials"] for r in runs.values()]), 3, 2)
    target = result["dnas_target"]
    assert target["tpe_seconds"] == 40.0
    assert target["seconds_to_reach"] == 109.0  # its first trial, after 100 s of supernet and search
    assert target["fraction"] == pytest.approx(109.0 / 40.0) and target["met"] is False
