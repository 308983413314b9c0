"""The saved quantized model (explore.qmodel/1): an exact round trip, residual adds included, written
atomically; anything that is not such a file is one BadInput naming the path."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest

from explore.model.artifacts import FORMAT, load_quantized, save_quantized
from explore.errors import BadInput
from explore.model.families import build_model
from explore.fqt import simulator as sim
from explore.fqt.api import evaluate
from explore.train.floatnet import init_float_params
from explore.model.deployable import QuantizedModel
from explore.model.spec import Add, spec_from_dict, spec_to_dict
from explore.train.ptq import quantize_model

NUM_CLASSES = 4
INPUT_SHAPE = (40, 1)
# Stem and stage 1 both have 4 channels at width 0.25, so both stage-1 blocks get a residual Add.
GENOME = {"width": 0.25, "stem_channels": 16, "stages": 1, "depth1": 2, "expansion": 1, "head_channels": 8}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, *INPUT_SHAPE)).astype(np.float32)
    return x, rng.integers(0, NUM_CLASSES, size=96).astype(np.int32)


@pytest.fixture(scope="module")
def model(data) -> QuantizedModel:
    spec = build_model("mbednet", GENOME, INPUT_SHAPE, NUM_CLASSES)
    q = quantize_model(init_float_params(spec, seed=3), data[0][:64])
    assert [i for i, layer in enumerate(spec.layers) if isinstance(layer, Add)] == sorted(q.adds)
    assert len(q.adds) == 2
    return q


@pytest.fixture(scope="module")
def saved(model, tmp_path_factory) -> tuple[Path, QuantizedModel]:
    path = tmp_path_factory.mktemp("saved") / "model.npz"
    save_quantized(model, path)
    return path, load_quantized(path)


def _assert_same_array(a, b, name: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype, (name, a.dtype, b.dtype)
    assert a.shape == b.shape, (name, a.shape, b.shape)
    np.testing.assert_array_equal(a, b, err_msg=name)


def test_round_trip_keeps_the_spec(model, saved) -> None:
    _, loaded = saved
    assert loaded.spec == model.spec
    assert loaded.spec.shapes == model.spec.shapes
    assert loaded.float_model.spec == model.spec
    assert spec_from_dict(json.loads(json.dumps(spec_to_dict(model.spec)))) == model.spec


def test_round_trip_keeps_every_array(model, saved) -> None:
    _, loaded = saved
    assert loaded.input_quant.scale == model.input_quant.scale
    assert loaded.input_quant.zero == model.input_quant.zero and type(loaded.input_quant.zero) is int
    assert len(loaded.act_quant) == len(model.act_quant)
    for i, (a, b) in enumerate(zip(model.act_quant, loaded.act_quant)):
        assert np.float32(a.scale) == b.scale and a.zero == b.zero, i
    assert sorted(loaded.params) == sorted(model.params) == list(model.spec.param_layers())
    for i, p in model.params.items():
        assert set(loaded.params[i]) == set(p), i
        for k, v in p.items():
            _assert_same_array(v, loaded.params[i][k], f"params[{i}][{k}]")
    assert sorted(loaded.float_model.params) == sorted(model.float_model.params)
    for i, p in model.float_model.params.items():
        assert set(loaded.float_model.params[i]) == {"w", "b"}
        for k, v in p.items():
            _assert_same_array(v, loaded.float_model.params[i][k], f"float[{i}][{k}]")
    assert sorted(loaded.adds) == sorted(model.adds)
    for i, p in model.adds.items():
        assert set(loaded.adds[i]) == set(p) == {"m_a", "shift_a", "m_b", "shift_b", "m_out", "shift_out"}
        for k, v in p.items():
            _assert_same_array(v, loaded.adds[i][k], f"adds[{i}][{k}]")


@pytest.mark.parametrize("config", ["uint8", "mixed"])
def test_round_trip_gives_identical_logits_and_accuracy(model, saved, data, config: str) -> None:
    _, loaded = saved
    x, y = data
    plan = sim.inference_plan(model, config)
    assert sim.inference_plan(loaded, config) == plan
    logits_of = jax.jit(lambda weights, consts, xb: sim.forward(plan, weights, consts, xb, keep=False)[0])

    def logits(m: QuantizedModel) -> np.ndarray:
        return np.asarray(logits_of(sim.plan_weights(plan, m), sim.runtime_constants(m), x))

    before, after = logits(model), logits(loaded)
    assert before.shape == (len(x), NUM_CLASSES)
    np.testing.assert_array_equal(before, after)
    assert len(np.unique(before.argmax(axis=1))) > 1 or len(np.unique(before)) > NUM_CLASSES
    accuracy = float(np.mean(before.argmax(axis=1) == y))
    assert evaluate(loaded, x, y, config) == accuracy


def test_save_is_atomic_and_overwrites(model, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "model.npz"
    save_quantized(model, path)  # creates the directory
    first = path.read_bytes()
    assert [p.name for p in path.parent.iterdir()] == ["model.npz"]
    save_quantized(model, path)
    assert [p.name for p in path.parent.iterdir()] == ["model.npz"], "a temporary file was left behind"
    assert path.read_bytes() == first, "saving the same model twice must give the same bytes"
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
    assert {"format.npy", "spec.npy", "input_quant.npy", "act_scale.npy", "act_zero.npy"} <= names
    assert load_quantized(path).spec == model.spec


def test_failed_save_leaves_no_partial_file(model, tmp_path: Path) -> None:
    # The target is a directory: os.replace fails, and neither it nor a temp file may remain half-done.
    target = tmp_path / "model.npz"
    target.mkdir()
    with pytest.raises(OSError):
        save_quantized(model, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
    assert target.is_dir() and not any(target.iterdir())


# --------------------------------------------------------------------------- bad files


def _assert_bad_input_names(path: Path) -> str:
    with pytest.raises(BadInput) as info:
        load_quantized(path)
    message = str(info.value)
    assert str(path) in message, message
    assert len(message.splitlines()) == 1, message
    return message


def test_load_a_non_model_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.npz"
    path.write_text("these are not the weights you are looking for\n")
    _assert_bad_input_names(path)


def test_load_a_plain_npy_array(tmp_path: Path) -> None:
    path = tmp_path / "array.npy"
    np.save(path, np.arange(5))
    _assert_bad_input_names(path)


def test_load_a_missing_file(tmp_path: Path) -> None:
    _assert_bad_input_names(tmp_path / "missing.npz")


def test_load_a_truncated_file(saved, tmp_path: Path) -> None:
    data = saved[0].read_bytes()
    path = tmp_path / "truncated.npz"
    path.write_bytes(data[: len(data) // 2])
    _assert_bad_input_names(path)


def test_load_an_npz_with_the_wrong_format(model, tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, format=np.array("explore.qmodel/0"), spec=np.array(json.dumps(spec_to_dict(model.spec))))
    message = _assert_bad_input_names(path)
    assert FORMAT in message


def test_load_an_npz_without_a_format(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    np.savez(path, x=np.zeros((3, 4), np.float32), y=np.arange(3))
    assert FORMAT in _assert_bad_input_names(path)


def test_load_an_npz_with_a_missing_entry(saved, tmp_path: Path) -> None:
    with np.load(saved[0]) as archive:
        arrays = {name: archive[name] for name in archive.files if name != "spec"}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path = tmp_path / "nospec.npz"
    path.write_bytes(buffer.getvalue())
    _assert_bad_input_names(path)
