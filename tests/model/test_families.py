"""Model families: every genome inside the declared ranges builds a valid network, on 1-D and 2-D inputs;
bad genomes are one BadInput naming the key; ``explore families`` lists them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from explore.errors import BadInput
from explore.model.families import FAMILIES, build_model, check_genome, get_family
from explore.model.families.mbednet import STAGE_CHANNELS
from explore.train.floatnet import FloatNet, init_variables
from explore.model.spec import (Add, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, MaxPool, ModelSpec,
                                paper_cnn)

INPUT_SHAPES = [(40, 1), (8, 8, 1), (32, 32, 3)]
NUM_CLASSES = 10
RANDOM_GENOMES = 15


# --------------------------------------------------------------------------- genome generators


def _low(key):
    return key.choices[0] if key.choices is not None else key.low


def _high(key):
    return key.choices[-1] if key.choices is not None else key.high


def _random_value(key, rng: np.random.Generator):
    if key.choices is not None:
        return key.choices[int(rng.integers(len(key.choices)))]
    if key.kind == "int":
        return int(rng.integers(key.low, key.high + 1))
    return float(rng.uniform(key.low, key.high))


def _genomes(family: str) -> list[tuple[str, dict]]:
    """(label, genome): the default, each key at its min and max, all at min/max, and seeded random ones."""
    keys = FAMILIES[family].keys
    out: list[tuple[str, dict]] = [("default", {})]
    for name, key in keys.items():
        out.append((f"{name}=min", {name: _low(key)}))
        out.append((f"{name}=max", {name: _high(key)}))
    out.append(("all-min", {name: _low(key) for name, key in keys.items()}))
    out.append(("all-max", {name: _high(key) for name, key in keys.items()}))
    rng = np.random.default_rng(sorted(FAMILIES).index(family) + 1234)
    for r in range(RANDOM_GENOMES):
        out.append((f"random{r}", {name: _random_value(key, rng) for name, key in keys.items()}))
    return out


def _conv_indices(spec: ModelSpec, depthwise: bool | None = None) -> list[int]:
    return [i for i, layer in enumerate(spec.layers)
            if isinstance(layer, Conv) and (depthwise is None or layer.depthwise == depthwise)]


# --------------------------------------------------------------------------- structural invariants


def _check_common(spec: ModelSpec, input_shape: tuple[int, ...]) -> None:
    assert isinstance(spec, ModelSpec)
    assert spec.input_shape == input_shape
    assert spec.num_classes == NUM_CLASSES
    last = spec.layers[-1]
    assert isinstance(last, Dense) and last.features == NUM_CLASSES and last.activation == "none"
    assert spec.shapes[-1] == (NUM_CLASSES,)
    dims = len(input_shape) - 1
    for i, layer in enumerate(spec.layers):
        # Plain ints everywhere: the spec feeds Flax, the simulator and the C export.
        if isinstance(layer, Conv):
            assert len(layer.kernel) == dims, (i, layer)
            assert all(type(k) is int and k >= 1 for k in layer.kernel), (i, layer)
            assert layer.strides is None or (len(layer.strides) == dims
                                             and all(type(s) is int for s in layer.strides)), (i, layer)
            assert type(layer.features) is int and layer.features >= 1, (i, layer)
        if isinstance(layer, (MaxPool, AvgPool)):
            assert len(layer.window) == dims, (i, layer)
        if isinstance(layer, (Conv, Dense, MaxPool, AvgPool, GlobalAvgPool, Flatten)):
            assert all(type(n) is int and n >= 1 for n in spec.shapes[i]), (i, spec.shapes[i])


def _check_cnn(spec: ModelSpec, g: dict) -> None:
    convs = _conv_indices(spec)
    assert len(convs) == g["conv_layers"]
    assert [spec.layers[i].features for i in convs] == [g["channels"] * g["growth"] ** i
                                                       for i in range(g["conv_layers"])]
    assert all(spec.layers[i].kernel == (g["kernel"],) * spec.spatial_dims for i in convs)
    dense = [layer for layer in spec.layers if isinstance(layer, Dense)]
    assert len(dense) == g["dense_layers"]
    assert all(d.features == g["hidden"] and d.activation == "relu" for d in dense[:-1])
    pools = [layer for layer in spec.layers if isinstance(layer, (MaxPool, AvgPool))]
    if g["pool"] == "none":
        assert pools == []
    else:
        wanted = MaxPool if g["pool"] == "max" else AvgPool
        assert all(isinstance(p, wanted) for p in pools)
        assert len(pools) <= g["conv_layers"] // g["pool_every"]


def _check_dscnn(spec: ModelSpec, g: dict) -> None:
    depthwise = _conv_indices(spec, depthwise=True)
    assert len(depthwise) == g["blocks"]
    dims = spec.spatial_dims
    assert spec.layers[0].kernel == (g["stem_kernel"],) * dims
    for i in depthwise:
        assert spec.layers[i].kernel == (g["kernel"],) * dims
        pointwise = spec.layers[i + 1]
        assert isinstance(pointwise, Conv) and not pointwise.depthwise and pointwise.kernel == (1,) * dims
    assert all(spec.layers[i].features == g["channels"] for i in _conv_indices(spec))
    assert isinstance(spec.layers[-2], GlobalAvgPool)


def _mbednet_blocks(spec: ModelSpec, g: dict) -> list[tuple[int, int]]:
    """(first layer, depthwise layer) of every inverted-residual block."""
    return [(d - 1 if g["expansion"] > 1 else d, d) for d in _conv_indices(spec, depthwise=True)]


def _check_mbednet(spec: ModelSpec, g: dict) -> None:
    assert {type(layer) for layer in spec.layers} <= {Conv, Dense, Add, GlobalAvgPool}
    blocks = _mbednet_blocks(spec, g)
    assert len(blocks) == sum(g[f"depth{s}"] for s in range(1, g["stages"] + 1))
    dims = spec.spatial_dims
    adds_seen = []
    for start, d in blocks:
        assert spec.layers[d].kernel == (g["kernel"],) * dims
        if g["expansion"] > 1:
            expand = spec.layers[start]
            assert expand.kernel == (1,) * dims and expand.features == spec.input_of(start)[-1] * g["expansion"]
        project = spec.layers[d + 1]
        assert project.kernel == (1,) * dims and project.activation == "none" and not project.depthwise
        c_in, c_out = spec.input_of(start)[-1], spec.shapes[d + 1][-1]
        unit_stride = set(spec.layers[d].strides or (1,)) == {1}
        has_add = d + 2 < len(spec.layers) and isinstance(spec.layers[d + 2], Add)
        assert has_add == (c_in == c_out and unit_stride), (start, d, c_in, c_out, spec.layers[d].strides)
        if has_add:
            # The skip is the block input: the tensor the block's first layer reads.
            assert spec.layers[d + 2].skip == start - 1
            adds_seen.append(d + 2)
    assert adds_seen == [i for i, layer in enumerate(spec.layers) if isinstance(layer, Add)]


CHECKS = {"cnn": _check_cnn, "dscnn": _check_dscnn, "mbednet": _check_mbednet}


def test_every_family_has_a_structural_check() -> None:
    assert set(CHECKS) == set(FAMILIES)


@pytest.mark.parametrize("input_shape", INPUT_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_genomes_in_range_build_valid_specs(family: str, input_shape: tuple[int, ...]) -> None:
    genomes = _genomes(family)
    assert len(genomes) == 3 + 2 * len(FAMILIES[family].keys) + RANDOM_GENOMES
    for label, genome in genomes:
        try:
            spec = build_model(family, genome, input_shape, NUM_CLASSES)
        except BadInput as e:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{family} {label} {genome} on {input_shape}: {e}")
        full = check_genome(FAMILIES[family].keys, genome, "genome")
        _check_common(spec, input_shape)
        CHECKS[family](spec, full)


def test_random_genomes_differ_and_are_seeded() -> None:
    # The generator itself must explore: seeded (reproducible) and not stuck on one design.
    for family in FAMILIES:
        first, second = _genomes(family), _genomes(family)
        assert first == second
        randoms = [g for label, g in first if label.startswith("random")]
        assert len({tuple(sorted(g.items())) for g in randoms}) == RANDOM_GENOMES


def test_one_d_inputs_give_one_d_kernels_only() -> None:
    for family in FAMILIES:
        for label, genome in _genomes(family):
            spec = build_model(family, genome, (40, 1), NUM_CLASSES)
            for layer in spec.layers:
                if isinstance(layer, Conv):
                    assert len(layer.kernel) == 1 and (layer.strides is None or len(layer.strides) == 1), \
                        (family, label, layer)
                if isinstance(layer, (MaxPool, AvgPool)):
                    assert len(layer.window) == 1, (family, label, layer)
            assert all(len(shape) <= 2 for shape in spec.shapes), (family, label)


@pytest.mark.parametrize("input_shape", INPUT_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_cnn_default_is_the_paper_network(input_shape: tuple[int, ...]) -> None:
    assert build_model("cnn", {}, input_shape, 10) == paper_cnn(input_shape, 10)
    assert build_model("cnn", {}, input_shape, 10).layers == paper_cnn(input_shape, 10).layers


def test_tiny_inputs_skip_downsampling() -> None:
    # A 1-sample axis cannot be halved: strides and pools fall back to 1 instead of failing.
    for family in FAMILIES:
        keys = FAMILIES[family].keys
        spec = build_model(family, {name: _high(key) for name, key in keys.items()}, (1, 1), 2)
        assert all(shape[0] == 1 for shape in spec.shapes if len(shape) == 2), family


# --------------------------------------------------------------------------- mbednet specifics


def test_mbednet_residual_add_skips_to_block_input() -> None:
    g = {"width": 1.0, "stem_channels": 16, "stem_stride": 2, "stages": 2, "depth1": 2, "depth2": 2,
         "expansion": 3, "kernel": 3, "head_channels": 64}
    spec = build_model("mbednet", g, (40, 1), NUM_CLASSES)
    # stem(0); stage 1: [1 expand, 2 dw, 3 project, 4 add] [5, 6, 7, 8 add]; stage 2: [9, 10 dw/2, 11]
    # (24 != 16 channels: no add) [12, 13, 14, 15 add]; head 16, pool 17, dense 18.
    adds = [(i, layer.skip) for i, layer in enumerate(spec.layers) if isinstance(layer, Add)]
    assert adds == [(4, 0), (8, 4), (15, 11)]
    for i, skip in adds:
        assert spec.shapes[skip] == spec.shapes[i - 1] == spec.shapes[i]
        assert isinstance(spec.layers[i - 1], Conv) and spec.layers[i - 1].activation == "none"
    assert spec.layers[10].depthwise and spec.layers[10].strides == (2,)
    assert len(spec.layers) == 19


def test_mbednet_no_add_when_channels_change() -> None:
    # Stem 8 channels into stage 1 (16 channels): the first block changes width, so no skip.
    spec = build_model("mbednet", {"stem_channels": 8, "stem_stride": 1, "stages": 1, "depth1": 1},
                       (8, 8, 1), NUM_CLASSES)
    assert not any(isinstance(layer, Add) for layer in spec.layers)
    spec = build_model("mbednet", {"stem_channels": 16, "stem_stride": 1, "stages": 1, "depth1": 1},
                       (8, 8, 1), NUM_CLASSES)
    assert [layer.skip for layer in spec.layers if isinstance(layer, Add)] == [0]


@pytest.mark.parametrize("width", [0.5, 2.0])
def test_mbednet_width_scales_every_channel_count(width: float) -> None:
    base = {"stem_channels": 16, "head_channels": 64, "stages": 4, "depth1": 2, "depth2": 2, "depth3": 1,
            "depth4": 2, "expansion": 3}
    one = build_model("mbednet", {**base, "width": 1.0}, (8, 8, 1), NUM_CLASSES)
    scaled = build_model("mbednet", {**base, "width": width}, (8, 8, 1), NUM_CLASSES)
    assert len(one.layers) == len(scaled.layers)
    convs = _conv_indices(one)
    assert convs == _conv_indices(scaled)
    # Every channel count here is even, so 0.5 and 2.0 scale them exactly.
    assert [scaled.layers[i].features for i in convs] == [int(one.layers[i].features * width) for i in convs]
    assert scaled.layers[0].features == int(16 * width)
    assert scaled.layers[convs[-1]].features == int(64 * width)
    projections = [scaled.layers[d + 1].features for d in _conv_indices(scaled, depthwise=True)]
    assert sorted(set(projections)) == [int(c * width) for c in STAGE_CHANNELS]


def test_mbednet_width_never_gives_fewer_than_two_channels() -> None:
    spec = build_model("mbednet", {"width": 0.25, "stem_channels": 4, "head_channels": 8}, (40, 1), 2)
    assert min(spec.layers[i].features for i in _conv_indices(spec)) == 2


def test_mbednet_has_no_squeeze_excite() -> None:
    for label, genome in _genomes("mbednet"):
        for shape in ((40, 1), (8, 8, 1)):
            spec = build_model("mbednet", genome, shape, NUM_CLASSES)
            assert {type(layer) for layer in spec.layers} <= {Conv, Dense, Add, GlobalAvgPool}, label
            # No gating: every activation is a plain ReLU or linear, and adds are linear.
            assert {getattr(layer, "activation", "none") for layer in spec.layers} <= {"relu", "none"}
            assert all(layer.activation == "none" for layer in spec.layers if isinstance(layer, Add))


# --------------------------------------------------------------------------- forward pass


SMALL = [  # tiny, and sharing layer shapes, so the eager Flax init compiles few distinct ops
    ("mbednet", {"width": 0.25, "stem_channels": 16, "stages": 1, "depth1": 2, "expansion": 1,
                 "head_channels": 8}, (40, 1)),
    ("dscnn", {"channels": 4, "blocks": 1, "stem_kernel": 3, "kernel": 3, "downsample_every": 0}, (40, 1)),
    ("cnn", {"conv_layers": 1, "channels": 4, "dense_layers": 1}, (8, 8, 1)),
]


@pytest.mark.parametrize(("family", "genome", "input_shape"), SMALL, ids=[s[0] for s in SMALL])
def test_floatnet_forward_gives_logits(family: str, genome: dict, input_shape: tuple[int, ...]) -> None:
    num_classes = 4
    spec = build_model(family, genome, input_shape, num_classes)
    variables = init_variables(spec, seed=0)
    x = np.random.default_rng(0).normal(size=(5, *input_shape)).astype(np.float32)
    logits = np.asarray(FloatNet(spec).apply(variables, x))
    assert logits.shape == (5, num_classes)
    assert np.all(np.isfinite(logits))
    assert not np.allclose(logits, logits[0]), "logits do not depend on the input"
    if family == "mbednet":
        assert any(isinstance(layer, Add) for layer in spec.layers)


# --------------------------------------------------------------------------- bad genomes


BAD = [
    ("cnn", {"chanels": 8}, ["'chanels'", "channels"]),
    ("mbednet", {"squeeze_excite": 1}, ["'squeeze_excite'", "width"]),
    ("cnn", {"channels": 1}, ["channels", "1", "[2, 128]"]),
    ("cnn", {"channels": 129}, ["channels", "129"]),
    ("mbednet", {"width": 2.5}, ["width", "2.5"]),
    ("mbednet", {"width": 0.1}, ["width", "0.1"]),
    ("dscnn", {"downsample_every": -1}, ["downsample_every", "-1"]),
    ("cnn", {"channels": "8"}, ["channels", "'8'"]),
    ("cnn", {"channels": 8.5}, ["channels", "8.5"]),
    ("cnn", {"channels": True}, ["channels", "True"]),
    ("mbednet", {"width": True}, ["width", "True"]),
    ("mbednet", {"width": "1.0"}, ["width", "'1.0'"]),
    ("mbednet", {"stages": None}, ["stages", "None"]),
    ("cnn", {"kernel": 4}, ["kernel", "4", "[3, 5, 7]"]),
    ("cnn", {"pool": "min"}, ["pool", "'min'", "'max'"]),
    ("cnn", {"growth": True}, ["growth", "True"]),
    ("dscnn", {"stem_stride": "2"}, ["stem_stride", "'2'"]),
]


@pytest.mark.parametrize(("family", "genome", "names"), BAD, ids=[f"{f}-{next(iter(g))}={g[next(iter(g))]!r}"
                                                                 for f, g, _ in BAD])
def test_bad_genome_names_the_key(family: str, genome: dict, names: list[str]) -> None:
    with pytest.raises(BadInput) as info:
        build_model(family, genome, (40, 1), NUM_CLASSES, where="g.json")
    message = str(info.value)
    assert message.startswith("g.json: "), message
    assert "\n" not in message
    for name in names:
        assert name in message, (name, message)


@pytest.mark.parametrize(("family", "genome"), [("cnn", {"kernel": 3.0}), ("dscnn", {"stem_stride": 2.0}),
                                                ("cnn", {"growth": 2.0})])
def test_float_for_an_int_choice_is_rejected(family: str, genome: dict) -> None:
    # A JSON genome written by another tool may say 3.0; it must not become a float kernel/stride/channel
    # count (Flax then fails with a TypeError traceback instead of one line).
    with pytest.raises(BadInput, match=next(iter(genome))):
        build_model(family, genome, (40, 1), NUM_CLASSES)


def test_valid_values_are_normalised() -> None:
    full = check_genome(FAMILIES["mbednet"].keys, {"width": 1}, "g")
    assert full["width"] == 1.0 and type(full["width"]) is float
    assert set(full) == set(FAMILIES["mbednet"].keys)
    assert {k: v for k, v in full.items() if k != "width"} == {
        name: key.default for name, key in FAMILIES["mbednet"].keys.items() if name != "width"}


def test_defaults_lie_inside_their_ranges() -> None:
    for family in FAMILIES.values():
        for name, key in family.keys.items():
            assert key.check(name, key.default, "default") == key.default, (family.name, name)


def test_get_family_unknown_lists_allowed_names() -> None:
    with pytest.raises(BadInput) as info:
        get_family("resnet")
    message = str(info.value)
    assert "'resnet'" in message and "model.family" in message
    for name in FAMILIES:
        assert name in message
    with pytest.raises(BadInput, match="resnet"):
        build_model("resnet", {}, (40, 1), NUM_CLASSES)
    assert get_family("cnn").name == "cnn"


# --------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module", autouse=True)
def families_cli():
    """``python -m explore families ...`` runs, started when this module starts so that they overlap
    with the in-process tests; ``families_cli(name)`` waits for one."""
    argvs = {"list": ["families"], "mbednet": ["families", "mbednet"], "nope": ["families", "nope"]}
    procs = {name: subprocess.Popen([sys.executable, "-m", "explore", *argv], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name, argv in argvs.items()}
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def result(name: str) -> subprocess.CompletedProcess[str]:
        if name not in results:
            out, err = procs[name].communicate(timeout=120)
            results[name] = subprocess.CompletedProcess(argvs[name], procs[name].returncode, out, err)
        return results[name]

    yield result
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_cli_families_lists_every_family(families_cli) -> None:
    result = families_cli("list")
    assert result.returncode == 0, result.stderr
    for family in FAMILIES.values():
        assert family.name in result.stdout
        assert family.summary in result.stdout


def test_cli_families_lists_keys_of_one_family(families_cli) -> None:
    from explore.campaign import PIPELINE_KEYS

    result = families_cli("mbednet")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for name, key in {**FAMILIES["mbednet"].keys, **PIPELINE_KEYS}.items():
        line = next((line for line in lines if line.split()[:1] == [name]), None)
        assert line is not None, (name, result.stdout)
        assert key.describe() in line, (name, line)
    assert "dscnn" not in result.stdout


def test_cli_families_unknown_is_one_line_exit_2(families_cli) -> None:
    result = families_cli("nope")
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("explore: error: "), lines[0]
    assert "'nope'" in lines[0]
    for name in FAMILIES:
        assert name in lines[0]
    assert "Traceback" not in result.stderr
