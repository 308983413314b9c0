"""``explore export``: firmware bundles round-trip (issue 6, item 2).

One tiny search runs once per module (digits CNN, 4 trials, ~25 s); its Pareto front and every other
feasible trial are exported.  Each bundle must validate against the versioned schema, list the right
sha256 of its files, compile warning-free as C99 with the real gcc, and load back *from its C
sources* into a model whose logits equal those of the trial's ``model.npz`` bit for bit.  A synthetic
model adds the layer kinds the CNN lacks (1-D input, depthwise conv, residual add, average pooling,
global pooling) in all three numeric configurations.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import optuna
import pytest
import yaml
from optuna.trial import TrialState

from explore.model.artifacts import load_quantized
from explore.campaign import campaign_board, load_campaign, resolve_genome
from explore.errors import BadInput
from explore.deploy import FORMAT, export_bundle, load_bundle, load_schema, parse_c_bundle, verify_files
from explore.deploy.model_fuzz import random_design, synthetic_bundle
from explore.deploy.runtime import BUNDLE_HEADER, RUNTIME_DIR
from explore.cli.export import run_export
from explore.fqt import simulator as sim
from explore.fqt.api import _logits_fn, _predict
from explore.model.spec import Add, AvgPool, Conv, Dense, GlobalAvgPool, ModelSpec, spec_to_dict
from explore.search.front import is_feasible_complete
from explore.search.storage import open_storage
from explore.search import open_study

TIMEOUT = 300


def _campaign_dict(name: str = "tiny") -> dict:
    search = {"space": {"channels": {"low": 4, "high": 12}, "hidden": {"low": 16, "high": 48, "step": 16},
                        "config": {"choices": ["uint8", "mixed"]}},
              "lambda": {"low": 0.5, "high": 1.0},
              "objectives": [{"name": "accuracy"}, {"name": "train_sram"}],
              "budgets": {"nrf52840": {"sram_bytes": 40000}},
              "sampler": {"name": "random"}, "early_stopping": {"enabled": False, "min_epochs": 2},
              "trials": 4}
    return {"name": name, "seed": 3, "dataset": {"name": "digits", "validation_fraction": 0.1},
            "model": {"family": "cnn"}, "pretrain": {"epochs": 2},
            "pruning": {"kind": "unstructured", "final_sparsity": 0.5, "start_step": 5, "steps": 3, "frequency": 5},
            "on_device": {"config": "uint8", "trainable": 2, "epochs": 3},
            "boards": ["nrf52840", "rp2040"], "baseline": {"channels": 8, "hidden": 32}, "search": search}


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    """A directory with ``tiny.yaml`` and the finished study of its tiny search."""
    # shared by the pytest-xdist workers of one session (their base directories are siblings): the
    # first one runs the search, the others wait.  Without xdist the parent is shared across sessions.
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "export-search"
    root.mkdir(exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".done").exists():
            shutil.rmtree(root / "results", ignore_errors=True)
            (root / "tiny.yaml").write_text(yaml.safe_dump(_campaign_dict(), sort_keys=False))
            run = subprocess.run([sys.executable, "-m", "explore", "run", "tiny.yaml", "--workers", "1"], cwd=root,
                                 capture_output=True, text=True, timeout=TIMEOUT)
            assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
            (root / ".done").touch()
    return root


def _study(root: Path) -> optuna.Study:
    campaign = load_campaign(root / "tiny.yaml")
    path = str(root / "results" / "tiny" / "study.journal")
    return open_study(campaign, open_storage(path, "journal"), optuna.samplers.RandomSampler(), "journal",
                      create=False)


def _logits(model, config: str, x: np.ndarray) -> np.ndarray:
    plan = sim.inference_plan(model, config)
    return _predict(_logits_fn(plan), sim.plan_weights(plan, model), sim.runtime_constants(model), x)


def _gcc(bundle: Path, tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    assert gcc, "gcc is missing: install it (Debian: apt-get install gcc) to check that bundles compile"
    obj = tmp_path / f"{bundle.name}-model.o"
    run = subprocess.run([gcc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", "model.c", "-o", str(obj)],
                         cwd=bundle, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert obj.stat().st_size > 0


_DUMP_C = r"""
#include <stdio.h>
#include "model.h"
static void put(const void *p, size_t n) { fwrite(p, 1, n, stdout); }
int main(void) {
    unsigned i;
    put(&explore_input_quant.scale, 4); put(&explore_input_quant.zero, 4);
    for (i = 0; i < EXPLORE_NUM_LAYERS; i++) { put(&explore_act_quant[i].scale, 4); put(&explore_act_quant[i].zero, 4); }
    for (i = 0; i < EXPLORE_NUM_LAYERS; i++) {
        const explore_layer_t *l = &explore_layers[i];
        if (l->w_q) put(l->w_q, l->weight_count);
        if (l->b_q) put(l->b_q, 4 * l->channels);
        if (l->b_f) put(l->b_f, 4 * l->channels);
        if (l->qparams) { put(&l->qparams->w_scale, 4); put(&l->qparams->w_zero, 4);
                          put(&l->qparams->m0, 4); put(&l->qparams->shift, 4); }
        if (l->w_f) put(l->w_f, 4 * l->weight_count);
        if (l->bias_f) put(l->bias_f, 4 * l->channels);
        if (l->add) { put(&l->add->m_a, 4); put(&l->add->shift_a, 4); put(&l->add->m_b, 4);
                      put(&l->add->shift_b, 4); put(&l->add->m_out, 4); put(&l->add->shift_out, 4); }
    }
    return 0;
}
"""


def _expected_bytes(model, manifest: dict) -> bytes:
    """What the compiled bundle must hold, in _DUMP_C's order, straight from the reference model."""
    f32, i32 = (lambda v: np.asarray(v, "<f4").tobytes()), (lambda v: np.asarray(v, "<i4").tobytes())
    out = [f32(model.input_quant.scale), i32(model.input_quant.zero)]
    out += [f32(q.scale) + i32(q.zero) for q in model.act_quant]
    trainable, float_from = set(manifest["training"]["trainable"]), manifest["model"]["float_from"]
    for i, layer in enumerate(model.spec.layers):
        if isinstance(layer, (Conv, Dense)) and i < float_from:
            p = model.params[i]
            out += [np.asarray(p["w_q"], np.uint8).tobytes(), i32(p["b_q"])]
            out += [f32(p["b_f"])] if i in trainable else []
            out += [f32(p["w_scale"]), i32(p["w_zero"]), i32(p["m0"]), i32(p["shift"])]
        elif isinstance(layer, (Conv, Dense)):
            out += [f32(model.float_model.params[i]["w"]), f32(model.float_model.params[i]["b"])]
        elif isinstance(layer, Add):
            out += [i32(model.adds[i][k]) for k in ("m_a", "shift_a", "m_b", "shift_b", "m_out", "shift_out")]
    return b"".join(out)


def _compiled_data(bundle: Path, tmp_path: Path) -> bytes:
    """Build model.c with a small program that writes every parameter the layer table points to."""
    work = tmp_path / f"dump-{bundle.name}"
    work.mkdir(exist_ok=True)
    (work / "dump.c").write_text(_DUMP_C)
    exe = work / "dump"
    build = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", str(bundle), "-o", str(exe),
                            str(work / "dump.c"), str(bundle / "model.c")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return subprocess.run([str(exe)], capture_output=True, check=True).stdout


def _normal_spec(spec: ModelSpec) -> dict:
    """spec_to_dict with a conv's default strides (None) spelt out, as the C table has them."""
    data = spec_to_dict(spec)
    for layer in data["layers"]:
        if layer["type"] == "Conv" and layer["strides"] is None:
            layer["strides"] = [1] * len(layer["kernel"])
    return data


def _check_bundle(bundle: Path, reference, config: str, x: np.ndarray, tmp_path: Path) -> dict:
    manifest = json.loads((bundle / "manifest.json").read_text())
    jsonschema.Draft202012Validator(load_schema()).validate(manifest)
    assert manifest["format"] == FORMAT and manifest["training"]["config"] == config
    assert json.loads((bundle / "manifest.schema.json").read_text()) == load_schema()
    assert verify_files(bundle) == []
    runtime = {f"runtime/{p.relative_to(RUNTIME_DIR)}": p for p in (*(RUNTIME_DIR / "include").glob("*.h"),
                                                                    *(RUNTIME_DIR / "src").glob("*.[ch]"))
               if p.name != BUNDLE_HEADER.name}
    assert {f["path"] for f in manifest["files"]} == {"model.h", "explore_bundle.h", "model.c", "README.md",
                                                      "manifest.schema.json", "CMakeLists.txt", "example/main.c",
                                                      *runtime}
    assert (bundle / "explore_bundle.h").read_bytes() == BUNDLE_HEADER.read_bytes()
    assert all((bundle / path).read_bytes() == source.read_bytes() for path, source in runtime.items())
    _gcc(bundle, tmp_path)
    # what a C compiler makes of the sources is the reference model, byte for byte
    assert _compiled_data(bundle, tmp_path) == _expected_bytes(reference, manifest)
    loaded = load_bundle(bundle)
    assert _normal_spec(loaded.spec) == _normal_spec(reference.spec)
    expected = _logits(reference, config, x)
    got = _logits(loaded, config, x)
    assert expected.shape == (len(x), reference.spec.num_classes)
    assert np.array_equal(expected, got)
    # flash vs RAM: frozen parameters are const, trainable ones are not
    _, decls = parse_c_bundle(bundle)
    trainable = set(manifest["training"]["trainable"])
    for name, decl in decls.items():
        match = re.fullmatch(r"explore_l(\d+)_(w_q|b_q|b_f|q|w_f|bias_f)", name)
        if match:
            layer = int(match.group(1))
            assert decl["const"] == (layer not in trainable), name
    assert decls["explore_trainable_layers"]["value"] == manifest["training"]["trainable"]
    arena = decls["explore_training_buffers"]["value"]
    assert max(b["offset"] + b["size"] for b in arena) == manifest["memory"]["arena_bytes"]
    readme = (bundle / "README.md").read_text()
    assert "runtime_c" in readme and "explore validate" in readme and "explore_train_sample" in readme
    return manifest


def test_pareto_bundles_round_trip(searched: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundles"
    run = subprocess.run([sys.executable, "-c", "from pathlib import Path; from explore.cli.export import run_export; "
                          f"run_export(Path('tiny.yaml'), None, True, None, Path({str(out)!r}), None, Path('results'))"],
                         cwd=searched, capture_output=True, text=True, timeout=TIMEOUT)
    assert run.returncode == 0, run.stderr[-3000:]
    trials = _study(searched).get_trials()
    front = sorted(int(p.name) for p in out.iterdir())
    assert front and all(f"in {out / str(n)}" in run.stdout for n in front)
    x = np.random.default_rng(0).normal(size=(64, 8, 8, 1)).astype(np.float32)
    for n in front:
        trial = trials[n]
        assert is_feasible_complete(trial)
        reference = load_quantized(Path(trial.user_attrs["artefacts"]["model"]))
        config = trial.user_attrs["metrics"]["config"]
        manifest = _check_bundle(out / str(n), reference, config, x, tmp_path)
        assert manifest["trial"] == n and manifest["board"]["name"] == "nrf52840"
        assert manifest["genome"]["config"] == config
        cost = trial.user_attrs["metrics"]["cost"]["nrf52840"]
        assert manifest["metrics"]["cost"]["sram_bytes"] == cost["sram_bytes"]
        assert manifest["budgets"]["sram_bytes"]["limit"] == 40000


def test_search_winners_train_bit_exact_on_host_and_cortex_m4(searched: Path, tmp_path: Path) -> None:
    """The front of a real search, exported and trained 50 minibatches by runtime_c: bit for bit the
    simulator's on the host (ASan + UBSan) and on the Cortex-M4 under QEMU (issue 7)."""
    from explore.deploy import validate as V

    bundles = run_export(searched / "tiny.yaml", None, True, None, tmp_path / "front", None, searched / "results")
    assert bundles
    options = V.Options(steps=50, samples=64, infer=4)
    for bundle in bundles:
        model, training, manifest = V.read_bundle(bundle)
        samples = V.make_samples(model, options.samples, 0)
        reference = V.simulate(model, training, *samples, options.steps, options.infer)
        for target in (V.HOST, "cortex-m4"):
            result = V.validate_target(bundle, model, training, manifest, reference, samples, target,
                                       tmp_path / "work" / target, options)
            assert result["bit_exact"], f"{bundle.name} on {target}: {result['first_difference']}"
            assert result["samples_trained"] == 50 * training.batch_size


def test_every_feasible_trial_exports_on_each_board(searched: Path, tmp_path: Path) -> None:
    campaign = load_campaign(searched / "tiny.yaml")
    feasible = [t for t in _study(searched).get_trials() if is_feasible_complete(t)]
    assert feasible, "the tiny search trained no design"
    x = np.random.default_rng(1).normal(size=(32, 8, 8, 1)).astype(np.float32)
    for trial in feasible:
        paths = run_export(searched / "tiny.yaml", trial.number, False, "rp2040", tmp_path / "b", None,
                           searched / "results")
        assert paths == [tmp_path / "b" / str(trial.number)]
        reference = load_quantized(Path(trial.user_attrs["artefacts"]["model"]))
        manifest = _check_bundle(paths[0], reference, trial.user_attrs["metrics"]["config"], x, tmp_path)
        assert manifest["board"]["name"] == "rp2040" and manifest["campaign"]["boards"] == campaign.boards
    # exporting again replaces the bundle and leaves no temporary directory behind
    run_export(searched / "tiny.yaml", feasible[0].number, False, None, tmp_path / "b", None, searched / "results")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(str(t.number) for t in feasible)


def _fails(match: str, *args) -> None:
    with pytest.raises(BadInput, match=match) as info:
        run_export(*args)
    assert "\n" not in str(info.value)


def test_bad_input(searched: Path, tmp_path: Path) -> None:
    campaign = searched / "tiny.yaml"
    results = searched / "results"
    out = tmp_path / "out"
    trials = _study(searched).get_trials()
    infeasible = [t.number for t in trials if t.user_attrs.get("infeasible")]
    _fails("exactly one", campaign, None, False, None, out, None, results)
    _fails("exactly one", campaign, 0, True, None, out, None, results)
    _fails(r"--trial: must be a trial of tiny.*\(got 99\)", campaign, 99, False, None, out, None, results)
    if infeasible:
        _fails("infeasible", campaign, infeasible[0], False, None, out, None, results)
    _fails(r"--board: must be one of .*\(got stm32f746\)", campaign, None, True, "stm32f746", out, None, results)
    _fails("is a file", campaign, None, True, None, campaign, None, results)
    _fails("--out: cannot create", campaign, None, True, None, campaign / "sub", None, results)
    _fails("no finished trials", campaign, None, True, None, out, None, tmp_path / "elsewhere")
    assert not out.exists()

    # a study with trials but none finished; then one stopped early and one failed
    other = tmp_path / "other"
    c = load_campaign(campaign)
    study = open_study(c, open_storage(str(other / "tiny" / "study.journal"), "journal"),
                       optuna.samplers.RandomSampler(), "journal", create=True)
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    _fails("no finished trials", campaign, None, True, None, out, None, other)
    study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED))
    _fails("trial 1 was stopped early", campaign, 1, False, None, out, None, other)
    _fails("trial 0 failed", campaign, 0, False, None, out, None, other)
    _fails("no feasible completed trial", campaign, None, True, None, out, None, other)


def test_bad_input_through_the_cli(searched: Path) -> None:
    """One line on stderr, exit 2."""
    for args in (["--trial", "99"], ["--pareto", "--board", "stm32f746"], ["--pareto", "--trial", "1"]):
        run = subprocess.run([sys.executable, "-m", "explore", "export", "tiny.yaml", *args, "--out", "o"],
                             cwd=searched, capture_output=True, text=True, timeout=TIMEOUT)
        assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr


def _contents(bundle: Path) -> dict[str, bytes]:
    return {str(p.relative_to(bundle)): p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file()}


def test_failed_export_leaves_no_half_bundle(searched: Path, tmp_path: Path, monkeypatch) -> None:
    trial = next(t for t in _study(searched).get_trials() if is_feasible_complete(t))
    out = tmp_path / "b"
    good = run_export(searched / "tiny.yaml", trial.number, False, None, out, None, searched / "results")[0]
    before = _contents(good)
    calls = []

    def broken_fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        run_export(searched / "tiny.yaml", trial.number, False, "rp2040", out, None, searched / "results")
    assert [p.name for p in out.iterdir()] == [str(trial.number)]      # no temporary directory left
    assert _contents(good) == before   # the old bundle is untouched


@pytest.mark.parametrize("config", ["uint8", "mixed", "float32"])
def test_synthetic_model_with_every_layer_kind(searched: Path, tmp_path: Path, config: str) -> None:
    """1-D input, depthwise conv, residual add, average and global pooling, a float head."""
    from explore.train.floatnet import init_float_params
    from explore.train.ptq import quantize_model

    spec = ModelSpec((16, 3), 4, (
        Conv(6, (3,), strides=(1,)), Conv(6, (3,), depthwise=True, activation="relu6"),
        Conv(6, (1,), activation="none", padding="valid"), Add(0, activation="relu"), AvgPool((2,)),
        Conv(8, (3,), strides=(2,)), GlobalAvgPool(), Dense(12, activation="relu"), Dense(4)))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 16, 3)).astype(np.float32)
    model = quantize_model(init_float_params(spec, seed=2), x)
    campaign = load_campaign(searched / "tiny.yaml")
    genome = resolve_genome(campaign, {"lambda_min": 0.5, "lambda_max": 0.75, "config": config}, "genome")
    metrics = {"config": config, "trainable": [2, 5, 8], "update_rate": {"2": 0.5, "5": 0.5, "8": 0.75},
               "accuracy": {"on_device": 0.5}, "validation_accuracy": {"on_device": 0.5}}
    bundle = export_bundle(campaign, 7, genome, metrics, model, campaign_board(campaign, "nrf52840"), tmp_path)
    manifest = _check_bundle(bundle, model, config, x, tmp_path)
    assert manifest["training"]["lambda_min"] == 0.5 and manifest["training"]["trainable"] == [2, 5, 8]
    defines, decls = parse_c_bundle(bundle)
    assert defines["EXPLORE_NUM_LAYERS"] == 9 and defines["EXPLORE_INPUT_DIM0"] == 16
    assert set(decls["explore_l3_add"]["value"]) == {"m_a", "shift_a", "m_b", "shift_b", "m_out", "shift_out"}
    assert decls["explore_layers"]["value"][3]["skip"] == 0


def test_bundles_with_the_types_inline_still_load(tmp_path: Path) -> None:
    """Bundles exported before explore_bundle.h existed have the C types inline in model.h: they still
    verify, compile to the same data and load to the same model (validation: test_validate.py)."""
    from bundles import with_types_inline

    design = random_design(32, "mixed")
    bundle = synthetic_bundle(design, tmp_path / "new")
    old = with_types_inline(bundle, tmp_path / "old" / bundle.name)
    manifest = json.loads((old / "manifest.json").read_text())
    jsonschema.Draft202012Validator(load_schema()).validate(manifest)
    assert verify_files(old) == [] and "explore_bundle.h" not in (old / "model.h").read_text()
    _gcc(old, tmp_path)
    assert _compiled_data(old, tmp_path / "old") == _compiled_data(bundle, tmp_path)
    assert parse_c_bundle(old) == parse_c_bundle(bundle)
    x = np.random.default_rng(2).normal(size=(16, *design.spec.input_shape)).astype(np.float32)
    assert np.array_equal(_logits(load_bundle(old), design.config, x), _logits(load_bundle(bundle), design.config, x))
