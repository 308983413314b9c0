"""One design point end to end on MNIST-1D (the quickstart campaign) and the paper's claims about it.

The float training, pruning and quantization run once per module; on-device retraining then runs in
each configuration from the same quantized model, as the paper compares them.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from explore.model.artifacts import load_quantized
from explore.campaign import load_campaign, resolve_genome
from explore.cost import Design, cost_design, design_from_genome
from explore.data import load_dataset
from explore.model.families import build_model
from explore.fqt.api import evaluate
from explore.campaign.boards import find_board
from explore.train.pretrain import accuracy as float_accuracy
from explore.train.pipeline import evaluate_design, on_device_stage, pretrain_stage, ptq_stage, reset_stage

QUICKSTART = Path(__file__).resolve().parents[2] / "search_spaces" / "quickstart.yaml"


@pytest.fixture(scope="module")
def quickstart():
    campaign = load_campaign(QUICKSTART)
    genome = resolve_genome(campaign, campaign.baseline, "baseline")
    data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
    pre = pretrain_stage(campaign.pretrain, campaign.pruning,
                         build_model("mbednet", {k: v for k, v in genome.architecture.items()
                                                 if k in campaign.baseline}, data.input_shape, 10),
                         data, genome.sparsity, campaign.seed)
    quantized = ptq_stage(campaign.quantization, pre.float_model, data, campaign.seed)
    layers = genome.trainable_layers(pre.float_model.spec)
    reset = reset_stage(campaign.on_device, quantized, layers, campaign.seed)
    ptq_accuracy = evaluate(quantized, data.x_test, data.y_test, "uint8")
    runs = {}

    def retrain(config: str, lambda_min: float = 1.0):
        key = (config, lambda_min)
        if key not in runs:
            g = dataclasses.replace(genome, config=config, lambda_min=lambda_min)
            result = on_device_stage(campaign.on_device, reset, data, g, layers, campaign.seed)
            runs[key] = (result, evaluate(result.model, data.x_test, data.y_test, config))
        return runs[key]

    return campaign, data, pre, ptq_accuracy, layers, retrain


def test_cost_model_predicts_the_pruned_network_and_fits_nrf52840(quickstart) -> None:
    campaign, data, pre, _, layers, _ = quickstart
    baseline = resolve_genome(campaign, campaign.baseline, "baseline")
    design = design_from_genome(baseline, campaign.pruning, campaign.on_device.batch_size, data.input_shape,
                                data.num_classes)
    # The cost model sizes the network before training; AGP must leave exactly that network.
    assert design.spec == pre.float_model.spec
    assert design.trainable == layers
    cost = cost_design(design, [find_board("nrf52840")])["nrf52840"]
    print(f"quickstart baseline on nrf52840: training SRAM {cost.sram_bytes} bytes, "
          f"{cost.train_latency_ms:.2f} ms per training sample")
    assert cost.feasible, cost.violations


def test_mnist1d_accuracy_after_reset_and_on_device_retraining(quickstart) -> None:
    _, data, pre, ptq_accuracy, layers, retrain = quickstart
    accuracy = {config: retrain(config)[1] for config in ("float32", "mixed", "uint8")}
    print(f"MNIST-1D quickstart: float pre-trained {float_accuracy(pre.float_model, data.x_test, data.y_test):.4f}, "
          f"PTQ {ptq_accuracy:.4f}; layers {layers} reset and retrained on-device: {accuracy}")
    assert accuracy["float32"] >= 0.92
    assert accuracy["mixed"] >= 0.90
    assert accuracy["uint8"] >= 0.87


def test_paper_transfer_learning_claims(quickstart) -> None:
    _, _, _, ptq_accuracy, _, retrain = quickstart
    uint8, mixed = retrain("uint8")[1], retrain("mixed")[1]
    print(f"PTQ baseline {ptq_accuracy:.4f}; on-device uint8 {uint8:.4f}, mixed {mixed:.4f}")
    assert uint8 >= ptq_accuracy - 0.03, "uint8 must come within 3 points of the PTQ baseline"
    gap = max(ptq_accuracy - uint8, 0.0)
    # "Most of the gap": mixed recovers at least half of what uint8 lost (one test sample of slack).
    assert ptq_accuracy - mixed <= gap / 2 + 1 / 1000, "mixed must close most of the remaining gap"


def test_dynamic_sparse_updates(quickstart) -> None:
    _, _, _, _, layers, retrain = quickstart
    dense, dense_acc = retrain("uint8", 1.0)
    half, half_acc = retrain("uint8", 0.5)
    tenth, tenth_acc = retrain("uint8", 0.1)
    rates = {lm: r.update_rates for lm, r in ((1.0, dense), (0.5, half), (0.1, tenth))}
    print(f"lambda_min 1.0 / 0.5 / 0.1: accuracy {dense_acc:.4f} / {half_acc:.4f} / {tenth_acc:.4f}; "
          f"update rates {rates}")
    assert half_acc >= dense_acc - 0.02
    for i in layers:
        assert dense.update_rates[i] == pytest.approx(1.0)
        assert tenth.update_rates[i] < half.update_rates[i] < dense.update_rates[i]
        assert tenth.update_rates[i] < 0.5
    # The refined latency uses the recorded rates: fewer updated channels, a shorter backward pass.
    campaign, _, pre, _, _, _ = quickstart
    board = find_board("nrf52840")
    backward = [cost_design(Design(pre.float_model.spec, tuple(layers), "uint8", lm, 1.0,
                                   campaign.on_device.batch_size, run.update_rates), [board])
                ["nrf52840"].latency_ms.backward for lm, run in ((1.0, dense), (0.5, half), (0.1, tenth))]
    print(f"refined backward latency on nrf52840 for lambda_min 1.0 / 0.5 / 0.1: {backward} ms")
    assert backward[2] < backward[1] < backward[0]


def test_quickstart_pruning_reaches_its_target(quickstart) -> None:
    campaign, _, pre, _, _, _ = quickstart
    assert pre.sparsity["kind"] == "structured"
    assert abs(pre.sparsity["reached"] - campaign.pruning.final_sparsity) <= 0.01
    assert pre.sparsity["params_after"] < pre.sparsity["params_before"]


def _digits_campaign(tmp_path: Path, **overrides) -> Path:
    campaign = {
        "name": "tiny", "seed": 3,
        "dataset": {"name": "digits", "validation_fraction": 0.1},
        "model": {"family": "cnn"},
        "pretrain": {"epochs": 4, "source_epochs": 3},
        "pruning": {"kind": "unstructured", "final_sparsity": 0.5, "start_step": 5, "steps": 3, "frequency": 5},
        "on_device": {"config": "uint8", "trainable": 2, "epochs": 2},
        "boards": ["nrf52840"],
        "baseline": {"channels": 8, "hidden": 32},
    }
    for key, value in overrides.items():
        campaign[key] = {**campaign[key], **value} if isinstance(value, dict) else value
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(campaign))
    return path


def test_explore_evaluate_writes_metrics_and_a_loadable_model(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "explore", "evaluate", str(_digits_campaign(tmp_path)),
                             "--out", str(out), "--json"], capture_output=True, text=True, timeout=600,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # compiled programs are kept where the campaign's workers keep theirs, for re-runs
    assert any((tmp_path / "results" / "tiny" / "jax_cache").iterdir())
    metrics = json.loads((out / "metrics.json").read_text())
    assert json.loads(result.stdout) == metrics
    assert set(metrics["accuracy"]) == {"float32", "ptq", "on_device"}
    assert all(0.5 < v <= 1.0 for v in metrics["accuracy"].values()), metrics["accuracy"]
    assert metrics["config"] == "uint8" and metrics["trainable"] == [4, 5]
    assert set(metrics["update_rate"]) == {"4", "5"}
    assert abs(metrics["sparsity"]["reached"] - 0.5) <= 0.01
    assert metrics["params"]["total"] > metrics["params"]["trainable"] > 0
    cost = metrics["cost"]["nrf52840"]  # the campaign's board, priced with the recorded update rates
    assert cost["update_rates"] == {k: pytest.approx(v) for k, v in metrics["update_rate"].items()}
    assert cost["sram_bytes"]["total"] == sum(cost["sram_bytes"][k] for k in ("arena", "trainable", "statics"))
    for stage in ("compile", "pretrain", "ptq", "on_device", "total"):
        assert metrics["seconds"][stage] > 0
    compiles = metrics["compiles"]  # every compilation, by stage
    assert set(compiles) == {"data", "pretrain", "ptq", "on_device", "metrics", "total"}
    assert compiles["total"]["count"] == sum(compiles[s]["count"] for s in compiles if s != "total") > 0
    model = load_quantized(out / "model.npz")
    campaign = load_campaign(tmp_path / "tiny.yaml")
    data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
    assert evaluate(model, data.x_test, data.y_test, "uint8") == metrics["accuracy"]["on_device"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no temporary files left behind"


def test_evaluate_is_deterministic_and_genome_overrides_apply(tmp_path: Path) -> None:
    campaign = load_campaign(_digits_campaign(tmp_path))
    genome = {"channels": 4, "config": "mixed", "lambda_min": 0.5, "trainable_last": 1, "sparsity": 0.25}
    first = evaluate_design(campaign, resolve_genome(campaign, genome, "genome"))
    second = evaluate_design(campaign, resolve_genome(campaign, genome, "genome"))
    assert first["accuracy"] == second["accuracy"]
    assert first["update_rate"] == second["update_rate"]
    assert first["config"] == "mixed" and first["trainable"] == [5] and first["lambda_min"] == 0.5
    assert abs(first["sparsity"]["reached"] - 0.25) <= 0.01
    assert first["architecture"]["layers"][0]["features"] == 4


def test_transfer_by_classes_pretrains_on_the_source_task(tmp_path: Path) -> None:
    path = _digits_campaign(tmp_path, dataset={"transfer": {"target_classes": [5, 6, 7, 8, 9]}},
                            pruning={"kind": "structured"})
    campaign = load_campaign(path)
    metrics = evaluate_design(campaign, resolve_genome(campaign, {}, "genome"))
    tasks = [record["task"] for record in metrics["history"]["pretrain"]]
    assert tasks == ["source"] * 3 + ["target"] * 4
    assert metrics["dataset"]["source"] > 0
    assert metrics["accuracy"]["on_device"] > 0.6, metrics["accuracy"]
    print(f"digits 0-4 -> 5-9 transfer: {metrics['accuracy']}")
