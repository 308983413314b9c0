"""Campaign files: the quickstart loads with every default filled; each bad file is ONE BadInput line
naming the file and the key; ``explore evaluate`` turns bad input into exit 2 before any training."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from explore.campaign import PIPELINE_KEYS, Campaign, load_campaign, resolve_genome, resolved_dict
from checks import assert_one_line_naming
from explore.errors import BadInput
from explore.model.families import FAMILIES

QUICKSTART = Path(__file__).resolve().parents[2] / "search_spaces" / "quickstart.yaml"
MINIMAL = "name: tiny\ndataset: {name: digits}\nmodel: {family: cnn}\n"


def _write(tmp_path: Path, text: str, name: str = "campaign.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- good files


def test_quickstart_loads() -> None:
    campaign = load_campaign(QUICKSTART)
    assert isinstance(campaign, Campaign)
    assert campaign.name == "quickstart"
    assert campaign.model.family == "mbednet"
    assert campaign.dataset.name == "mnist1d" and campaign.dataset.num_samples == 5000
    assert campaign.pruning.kind == "structured" and campaign.pruning.final_sparsity == 0.25
    assert campaign.on_device.trainable == 2 and campaign.on_device.reset is True
    assert campaign.boards == ["nrf52840"]
    assert campaign.baseline["kernel"] == 5
    assert campaign.base_dir == QUICKSTART.resolve().parent


def test_quickstart_resolved_dict_fills_defaults() -> None:
    resolved = resolved_dict(load_campaign(QUICKSTART))
    json.dumps(resolved)  # plain JSON data
    assert "base_dir" not in resolved
    assert set(resolved) == {"name", "seed", "dataset", "model", "pretrain", "pruning", "quantization",
                             "on_device", "boards", "baseline", "search"}
    # Keys the file leaves out come back with their defaults.
    assert resolved["dataset"]["format"] == "builtin"
    assert resolved["dataset"]["test_fraction"] == 0.2
    assert resolved["dataset"]["generator_seed"] == 42
    assert resolved["dataset"]["transfer"] is None
    assert resolved["pretrain"]["source_epochs"] == 20
    # Keys the file sets keep its values.
    assert resolved["pretrain"]["epochs"] == 25
    assert resolved["quantization"] == {"calibration": "minmax", "percentile": 99.99, "calibration_samples": 1000}


def test_minimal_campaign_gets_every_section_default(tmp_path: Path) -> None:
    resolved = resolved_dict(load_campaign(_write(tmp_path, MINIMAL)))
    assert resolved["seed"] == 0
    assert resolved["pretrain"] == {"epochs": 30, "source_epochs": 20, "batch_size": 64, "lr": 0.003}
    assert resolved["pruning"]["kind"] == "none"
    assert resolved["on_device"] == {"config": "uint8", "trainable": 2, "reset": True, "lambda_min": 1.0,
                                     "lambda_max": 1.0, "lr": 0.01, "batch_size": 48, "epochs": 10}
    assert resolved["boards"] == [] and resolved["baseline"] == {}
    # Round trip: the resolved form is itself a valid campaign that resolves to the same thing.
    again = load_campaign(_write(tmp_path, yaml.safe_dump(resolved), "again.yaml"))
    assert resolved_dict(again) == resolved


def test_resolve_genome_fills_family_and_pipeline_defaults() -> None:
    campaign = load_campaign(QUICKSTART)
    genome = resolve_genome(campaign, {}, "g").to_dict()
    assert set(genome) == set(FAMILIES["mbednet"].keys) | set(PIPELINE_KEYS)
    for name, key in FAMILIES["mbednet"].keys.items():
        assert genome[name] == key.default, name
    # Pipeline keys come from the campaign's sections, not from PIPELINE_KEYS' own defaults.
    assert genome["sparsity"] == 0.25  # pruning.final_sparsity (kind structured)
    assert genome["trainable_last"] == 2
    assert genome["lambda_min"] == 1.0 and genome["lambda_max"] == 1.0
    assert genome["config"] == "uint8"


def test_resolve_genome_value_overrides_campaign() -> None:
    campaign = load_campaign(QUICKSTART)
    genome = resolve_genome(campaign, {"kernel": 7, "width": 0.5, "sparsity": 0.5, "config": "mixed",
                                       "trainable_last": 3, "lambda_min": 0.25, "lambda_max": 0.75}, "g").to_dict()
    assert genome["kernel"] == 7 and genome["width"] == 0.5
    assert genome["sparsity"] == 0.5 and genome["config"] == "mixed" and genome["trainable_last"] == 3
    assert genome["lambda_min"] == 0.25 and genome["lambda_max"] == 0.75
    baseline = resolve_genome(campaign, campaign.baseline, "baseline").to_dict()
    assert baseline["kernel"] == 5 and baseline["head_channels"] == 64


def test_resolve_genome_follows_the_campaign_sections(tmp_path: Path) -> None:
    text = MINIMAL + ("on_device: {config: mixed, trainable: all, lambda_min: 0.2, lambda_max: 0.6}\n"
                      "pruning: {kind: none, final_sparsity: 0.7}\n")
    campaign = load_campaign(_write(tmp_path, text))
    genome = resolve_genome(campaign, {}, "g").to_dict()
    assert genome["config"] == "mixed"
    assert genome["lambda_min"] == 0.2 and genome["lambda_max"] == 0.6
    assert genome["sparsity"] == 0.0  # no pruning: final_sparsity does not apply
    assert "trainable_last" not in genome  # the campaign says "all"
    assert resolve_genome(campaign, {"trainable_last": 1}, "g").trainable_last == 1


@pytest.mark.parametrize(("genome", "names"), [
    ({"lambda_min": 0.9, "lambda_max": 0.5}, ["g.json", "lambda_min", "lambda_max"]),
    ({"sparsity": 0.5}, ["g.json", "sparsity", "pruning.kind"]),
    ({"channels": 4, "colour": 1}, ["g.json", "'colour'"]),
    ({"config": "int4"}, ["g.json", "config", "'int4'"]),
    (["channels"], ["g.json", "mapping"]),
])
def test_resolve_genome_rejects(tmp_path: Path, genome, names: list[str]) -> None:
    campaign = load_campaign(_write(tmp_path, MINIMAL))
    with pytest.raises(BadInput) as info:
        resolve_genome(campaign, genome, "g.json")
    message = str(info.value)
    assert "\n" not in message
    for name in names:
        assert name in message, (name, message)


# --------------------------------------------------------------------------- bad files

BAD_CAMPAIGNS = {
    "unknown-top-level-key": (MINIMAL + "optimiser: adam\n", ["optimiser"]),
    "unknown-section-key": (MINIMAL + "pretrain: {epoch: 3}\n", ["pretrain.epoch"]),
    "unknown-dataset-key": (MINIMAL.replace("{name: digits}", "{name: digits, fromat: npz}"), ["dataset.fromat"]),
    "wrong-type": (MINIMAL + "pretrain: {epochs: ten}\n", ["pretrain.epochs", "'ten'"]),
    "wrong-type-list": (MINIMAL + "boards: nrf52840\n", ["boards"]),
    "out-of-range": (MINIMAL + "on_device: {lambda_min: 1.5}\n", ["on_device.lambda_min", "1.5"]),
    "out-of-range-int": (MINIMAL + "pretrain: {epochs: 0}\n", ["pretrain.epochs", "0"]),
    "bad-choice": (MINIMAL + "on_device: {config: int4}\n", ["on_device.config", "'int4'"]),
    "lambda-order": (MINIMAL + "on_device: {lambda_min: 0.9, lambda_max: 0.5}\n",
                     ["on_device", "lambda_min", "lambda_max"]),
    "sparsity-order": (MINIMAL + "pruning: {initial_sparsity: 0.6, final_sparsity: 0.5}\n",
                       ["pruning", "initial_sparsity"]),
    "unknown-family": (MINIMAL.replace("family: cnn", "family: resnet"), ["model.family", "'resnet'", "mbednet"]),
    "missing-model": ("name: tiny\ndataset: {name: digits}\n", ["model: Field required"]),
    "bad-name": (MINIMAL.replace("name: tiny", "name: 'a b/c'"), ["name: ", "'a b/c'"]),
    "baseline-unknown-key": (MINIMAL + "baseline: {channels: 8, colour: red}\n", ["baseline", "'colour'"]),
    "baseline-out-of-range": (MINIMAL + "baseline: {channels: 1000}\n", ["baseline", "channels", "1000"]),
    "baseline-bad-choice": (MINIMAL + "baseline: {kernel: 4}\n", ["baseline", "kernel", "4"]),
    "baseline-pipeline-key": (MINIMAL + "baseline: {lambda_min: 2}\n", ["baseline", "lambda_min", "2"]),
    "baseline-not-a-mapping": (MINIMAL + "baseline: [1, 2]\n", ["baseline: ", "dict"]),
    "not-a-mapping": ("- name: tiny\n- model: cnn\n", ["mapping"]),
    "scalar": ("just a string\n", ["mapping"]),
    "empty": ("", ["mapping"]),
    "invalid-yaml": (MINIMAL + "pretrain: {epochs: [1, 2\n", ["not valid YAML at line 5"]),
    "invalid-indent": (MINIMAL + "pretrain:\n  epochs: 3\n   lr: 2\n", ["not valid YAML at line 6"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CAMPAIGNS))
def test_bad_campaign_is_one_line_naming_file_and_key(tmp_path: Path, case: str) -> None:
    text, names = BAD_CAMPAIGNS[case]
    path = _write(tmp_path, text, f"{case}.yaml")
    with pytest.raises(BadInput) as info:
        load_campaign(path)
    assert_one_line_naming(str(info.value), path, names)


def test_each_error_reports_only_the_first_problem_and_counts_the_rest(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "pretrain: {epochs: 0, batch_size: 0}\n")
    with pytest.raises(BadInput) as info:
        load_campaign(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert "pretrain.epochs" in message and "[+1 more]" in message


def test_missing_campaign_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(BadInput) as info:
        load_campaign(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "not found" in message
    assert len(message.splitlines()) == 1


def test_campaign_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as info:
        load_campaign(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_load_genome_reports_the_file(tmp_path: Path) -> None:
    from explore.campaign import load_genome

    good = tmp_path / "good.json"
    good.write_text(json.dumps({"channels": 8}))
    assert load_genome(good) == {"channels": 8}
    for name, text in (("broken.json", "{channels: 8"), ("list.json", "[1, 2]")):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(BadInput) as info:
            load_genome(path)
        assert str(info.value).startswith(str(path)), str(info.value)
        assert len(str(info.value).splitlines()) == 1
    with pytest.raises(BadInput, match="not found"):
        load_genome(tmp_path / "missing.json")


def test_campaign_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(MINIMAL.encode() + b"# caf\xe9\n")
    with pytest.raises(BadInput) as info:
        load_campaign(path)
    assert str(info.value).startswith(str(path))


# --------------------------------------------------------------------------- CLI: explore evaluate

N = 40


def _npz(path: Path, *, x=None, y=None) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 40)).astype(np.float32) if x is None else x
    y = (np.arange(N) % 4).astype(np.int64) if y is None else y
    np.savez(path, x=x, y=y)


def _campaign_yaml(family: str = "cnn", data: str = "data.npz", num_classes: int | None = None) -> str:
    dataset = {"name": "tiny", "format": "npz", "path": data}
    if num_classes is not None:
        dataset["num_classes"] = num_classes
    return yaml.safe_dump({"name": "tiny", "dataset": dataset, "model": {"family": family},
                           "pretrain": {"epochs": 1}, "on_device": {"epochs": 1}})


def _case_unknown_family(d: Path):
    _npz(d / "data.npz")
    return _campaign_yaml(family="resnet"), None, ["model.family", "resnet", "campaign.yaml"]


def _case_unknown_genome_key(d: Path):
    _npz(d / "data.npz")
    (d / "g.json").write_text(json.dumps({"channels": 8, "colour": "red"}))
    return _campaign_yaml(), "g.json", ["'colour'"]


def _case_genome_out_of_range(d: Path):
    _npz(d / "data.npz")
    (d / "g.json").write_text(json.dumps({"channels": 1000}))
    return _campaign_yaml(), "g.json", ["channels", "1000"]


def _case_missing_dataset(d: Path):
    return _campaign_yaml(data="missing.npz"), None, ["missing.npz", "dataset.path"]


def _case_nan_inputs(d: Path):
    x = np.random.default_rng(1).normal(size=(N, 40)).astype(np.float32)
    x[3, 7] = np.nan
    _npz(d / "data.npz", x=x)
    return _campaign_yaml(), None, ["data.npz", "[x]", "NaN"]


def _case_label_out_of_range(d: Path):
    y = (np.arange(N) % 4).astype(np.int64)
    y[5] = 4
    _npz(d / "data.npz", y=y)
    return _campaign_yaml(num_classes=4), None, ["data.npz", "[y]", "num_classes", "4"]


def _case_lengths_differ(d: Path):
    _npz(d / "data.npz", y=(np.arange(N - 3) % 4).astype(np.int64))
    return _campaign_yaml(), None, ["data.npz", "[x]", "[y]", str(N), str(N - 3)]


CLI_CASES = {name.removeprefix("_case_"): fn for name, fn in dict(globals()).items() if name.startswith("_case_")}


@pytest.fixture(scope="module")
def evaluate_runs(tmp_path_factory) -> dict:
    """Every bad-input evaluate run, started at once (each subprocess pays the jax import)."""
    runs = {}
    for name, make in CLI_CASES.items():
        d = tmp_path_factory.mktemp(name)
        text, genome, names = make(d)
        (d / "campaign.yaml").write_text(text)
        argv = [sys.executable, "-m", "explore", "evaluate", str(d / "campaign.yaml"), "--out", str(d / "out")]
        if genome:
            argv += ["--genome", str(d / genome)]
        proc = subprocess.Popen(argv, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        runs[name] = (proc, d, names)
    done = {}
    for name, (proc, d, names) in runs.items():
        out, err = proc.communicate(timeout=300)
        done[name] = (proc.returncode, out, err, d, names)
    return done


def test_all_cli_cases_are_listed() -> None:
    assert len(CLI_CASES) == 7


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_evaluate_bad_input_exits_2_with_one_line(evaluate_runs, case: str) -> None:
    _check_one_line_exit_2(*evaluate_runs[case])


def test_evaluate_bad_input_with_json_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # In-process (the same ExploreGroup.main as the entry point), to spare another jax import.
    from explore.cli.main import main

    text, _, names = _case_missing_dataset(tmp_path)
    (tmp_path / "campaign.yaml").write_text(text)
    with pytest.raises(SystemExit) as info:
        main(["evaluate", str(tmp_path / "campaign.yaml"), "--out", str(tmp_path / "out"), "--json"],
             prog_name="explore")
    captured = capsys.readouterr()
    assert captured.out == ""
    _check_one_line_exit_2(info.value.code, captured.out, captured.err, tmp_path, names)


def _check_one_line_exit_2(code: int, out: str, err: str, d: Path, names: list[str]) -> None:
    assert code == 2, (code, out, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("explore: error: "), lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert not (d / "out" / "metrics.json").exists()
    assert not (d / "out" / "model.npz").exists()


def test_genome_is_frozen_and_round_trips_through_its_dict() -> None:
    campaign = load_campaign(QUICKSTART)
    genome = resolve_genome(campaign, campaign.baseline, "baseline")
    with pytest.raises(dataclasses.FrozenInstanceError):
        genome.config = "mixed"
    assert resolve_genome(campaign, genome.to_dict(), "again") == genome
    assert resolve_genome(campaign, genome, "already resolved") is genome
    spec = genome.network((40, 1), 10)
    assert genome.trainable_layers(spec) == spec.param_layers()[-genome.trainable_last:]


def test_genome_without_a_trainable_choice_takes_the_campaigns_list(tmp_path: Path) -> None:
    text = QUICKSTART.read_text()
    path = tmp_path / "c.yaml"
    path.write_text(text.replace("  trainable: 2 ", "  trainable: [13, 11] ", 1))
    campaign = load_campaign(path)
    genome = resolve_genome(campaign, {}, "g")
    assert genome.trainable_last is None and genome.campaign_trainable == (13, 11)
    assert "trainable" not in genome.to_dict() and "trainable_last" not in genome.to_dict()
    assert genome.trainable_layers(genome.network((40, 1), 10)) == (11, 13)
