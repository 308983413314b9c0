"""``model.h`` and ``model.c`` of a bundle: one trained design as C99 data for runtime_c.

Only ``<stdint.h>`` is used; every name starts with ``explore_`` / ``EXPLORE_``.  The types come from
runtime_c's ``include/explore_bundle.h``, which the bundle carries next to ``model.h``.

- Frozen layers' parameters are ``const`` arrays (the linker puts them in flash); trainable layers'
  weights, biases and quantization parameters are non-``const`` (RAM, initialised from flash as
  ``.data``), as the cost model counts them (:func:`explore.cost.state.model_flash`).
- An integer (uint8) conv/dense layer ``i`` has ``explore_l<i>_w_q`` (uint8, Flax layout
  ``(k..., in, out)`` / ``(in, out)``, row-major), ``explore_l<i>_b_q`` (int32 at scale
  ``w_scale * s_in``), ``explore_l<i>_q`` (``w_scale``, ``w_zero``, ``m0``, ``shift``) and, when
  trainable, ``explore_l<i>_b_f`` (float32 bias master copy).  A layer that runs in float32 (the
  ``mixed`` head, every layer of ``float32``) has ``explore_l<i>_w_f`` and ``explore_l<i>_bias_f``.
  A residual add ``i`` has ``explore_l<i>_add`` (TFLite's six multiplier parts).
- ``explore_input_quant`` and ``explore_act_quant[]``: scale and zero point of the input and of every
  layer's output; ``explore_layers[]``: the layer table; ``explore_trainable[]``: writable pointers to
  the trainable layers' state; ``explore_training``: the training configuration;
  ``explore_training_buffers[]`` / ``explore_inference_buffers[]`` and their step names: the arena
  plans of :mod:`explore.cost.lifetimes`, offsets as planned.

Floats are written as C99 hexadecimal literals, so every float32 survives exactly.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from explore.cost import CATEGORIES, Design, layer_sizes
from explore.deploy.manifest import FORMAT
from explore.deploy.runtime import BUNDLE_HEADER
from explore.model.deployable import QuantizedModel
from explore.model.spec import Add, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, MaxPool, ModelSpec
from explore.version import __version__

#: Enumerator names of explore_bundle.h; c_reader inverts them.
KINDS = {Conv: "EXPLORE_CONV", Dense: "EXPLORE_DENSE", MaxPool: "EXPLORE_MAXPOOL", AvgPool: "EXPLORE_AVGPOOL",
         GlobalAvgPool: "EXPLORE_GLOBALAVGPOOL", Flatten: "EXPLORE_FLATTEN", Add: "EXPLORE_ADD"}
ACTIVATIONS = {"none": "EXPLORE_ACT_NONE", "relu": "EXPLORE_ACT_RELU", "relu6": "EXPLORE_ACT_RELU6"}
PADDINGS = {"same": "EXPLORE_PAD_SAME", "valid": "EXPLORE_PAD_VALID"}
_CONFIGS = {"uint8": "EXPLORE_CONFIG_UINT8", "mixed": "EXPLORE_CONFIG_MIXED", "float32": "EXPLORE_CONFIG_FLOAT32"}
_CATEGORY_NAMES = {c: f"EXPLORE_BUF_{c.upper()}" for c in CATEGORIES}
ADD_KEYS = ("m_a", "shift_a", "m_b", "shift_b", "m_out", "shift_out")
_NULL = "0"


def bundle_header() -> bytes:
    """runtime_c's ``explore_bundle.h``, which every bundle carries under the same name."""
    return BUNDLE_HEADER.read_bytes()


# --- C literals -------------------------------------------------------------------------------------------


def _f32(value: Any) -> str:
    """Exact C99 literal of a float32: hexadecimal mantissa and binary exponent."""
    v = np.float32(value)
    if not np.isfinite(v):
        raise ValueError(f"cannot export the non-finite float {v}")
    text = re.sub(r"\.?0+p", "p", float(v).hex())
    return text + "f"


def _i32(value: Any) -> str:
    v = int(value)
    if not -2**31 <= v < 2**31:
        raise ValueError(f"{v} does not fit an int32")
    return "INT32_MIN" if v == -2**31 else str(v)


def _array(values: np.ndarray, fmt, per_line: int) -> str:
    items = [fmt(v) for v in np.asarray(values).reshape(-1)]
    lines = [", ".join(items[s:s + per_line]) for s in range(0, len(items), per_line)]
    return "{\n    " + ",\n    ".join(lines) + "\n}"


def _rows(items: list[str]) -> str:
    return "{\n    " + ",\n    ".join(items) + "\n}"


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pad(values: tuple[int, ...], n: int) -> str:
    return "{" + ", ".join(str(int(v)) for v in tuple(values) + (0,) * (n - len(values))) + "}"


def _struct(fields: dict[str, str], indent: str = "    ") -> str:
    return "{\n" + "".join(f"{indent}    .{k} = {v},\n" for k, v in fields.items()) + indent + "}"


# --- the layer table --------------------------------------------------------------------------------------


def _geometry(spec: ModelSpec, i: int) -> dict[str, str]:
    layer = spec.layers[i]
    in_shape, out_shape = spec.input_of(i), spec.shapes[i]
    conv = isinstance(layer, Conv)
    return {
        "depthwise": str(int(conv and layer.depthwise)),
        "padding": PADDINGS[layer.padding] if conv else "EXPLORE_PAD_SAME",
        "batchnorm": str(int(conv and layer.batchnorm)),
        "in_rank": str(len(in_shape)), "out_rank": str(len(out_shape)),
        "skip": str(layer.skip) if isinstance(layer, Add) else "0",
        "in_shape": _pad(in_shape, 3), "out_shape": _pad(out_shape, 3),
        "kernel": _pad(layer.kernel if conv else (), 2),
        "strides": _pad((layer.strides or (1,) * len(layer.kernel)) if conv else (), 2),
        "window": _pad(layer.window if isinstance(layer, (MaxPool, AvgPool)) else (), 2),
    }


def _parameters(spec: ModelSpec, i: int, trainable: bool, is_float: bool) -> dict[str, str]:
    """The layer's parameter counts and the names of its arrays (0 where one does not apply)."""
    layer = spec.layers[i]
    is_param = isinstance(layer, (Conv, Dense))
    name = f"explore_l{i}"
    integer = is_param and not is_float
    return {
        "weight_count": str(math.prod(spec.weight_shape(i))) if is_param else "0",
        "channels": str(layer.features) if is_param else "0",
        "w_q": f"{name}_w_q" if integer else _NULL,
        "b_q": f"{name}_b_q" if integer else _NULL,
        "b_f": f"{name}_b_f" if integer and trainable else _NULL,
        "qparams": f"&{name}_q" if integer else _NULL,
        "w_f": f"{name}_w_f" if is_param and is_float else _NULL,
        "bias_f": f"{name}_bias_f" if is_param and is_float else _NULL,
        "add": f"&{name}_add" if isinstance(layer, Add) else _NULL,
    }


def _layer_row(spec: ModelSpec, i: int, design: Design, fp: int) -> dict[str, str]:
    """The fields of ``explore_layers[i]``, in the struct's order."""
    layer, is_float, trainable = spec.layers[i], i >= fp, i in design.trainable
    return {"kind": KINDS[type(layer)], "activation": ACTIVATIONS[getattr(layer, "activation", "none")],
            "is_float": str(int(is_float)), "trainable": str(int(trainable)),
            **_geometry(spec, i), **_parameters(spec, i, trainable, is_float)}


def _trainable_row(spec: ModelSpec, i: int, design: Design, fp: int) -> str:
    row = _layer_row(spec, i, design, fp)
    pointers = {k: row[k] if k == "qparams" else row[k].lstrip("&")
                for k in ("w_q", "b_q", "b_f", "qparams", "w_f", "bias_f")}
    return _struct({"layer": str(i), "weight_count": row["weight_count"], "channels": row["channels"], **pointers})


# --- declarations -----------------------------------------------------------------------------------------


class _Definitions:
    """The ``extern`` declarations of model.h and, in the same order, the definitions of model.c."""

    def __init__(self) -> None:
        self.decls: list[str] = []
        self.body: list[str] = []

    def section(self, title: str) -> None:
        self.body.append(f"/* --- {title} --- */\n")

    def define(self, ctype: str, name: str, value: str, const: bool, count: int | None = None) -> None:
        qual = "const " if const else ""
        dim = f"[{count}]" if count is not None else ""
        self.decls.append(f"extern {qual}{ctype} {name}{dim};")
        self.body.append(f"{qual}{ctype} {name}{dim} = {value};\n")


def _define_quant(d: _Definitions, model: QuantizedModel) -> None:
    d.section("quantization of the input and of every layer's output")
    d.define("explore_tensor_quant_t", "explore_input_quant",
             f"{{{_f32(model.input_quant.scale)}, {_i32(model.input_quant.zero)}}}", True)
    d.define("explore_tensor_quant_t", "explore_act_quant",
             _rows([f"{{{_f32(q.scale)}, {_i32(q.zero)}}}" for q in model.act_quant]), True, len(model.act_quant))


def _define_float_layer(d: _Definitions, model: QuantizedModel, i: int, frozen: bool, where: str) -> None:
    layer, shape = model.spec.layers[i], model.spec.weight_shape(i)
    p = model.float_model.params[i]
    w, b = np.asarray(p["w"], np.float32), np.asarray(p["b"], np.float32)
    if w.shape != shape or b.shape != (layer.features,):
        raise ValueError(f"layer {i}: float weights {w.shape}/{b.shape} do not fit the spec {shape}")
    d.section(f"layer {i} {type(layer).__name__}: float32, {where}")
    d.define("float", f"explore_l{i}_w_f", _array(w, _f32, 6), frozen, w.size)
    d.define("float", f"explore_l{i}_bias_f", _array(b, _f32, 6), frozen, b.size)


def _define_integer_layer(d: _Definitions, model: QuantizedModel, i: int, frozen: bool, where: str) -> None:
    layer, shape, name = model.spec.layers[i], model.spec.weight_shape(i), f"explore_l{i}"
    p = model.params[i]
    w = np.asarray(p["w_q"])
    if w.dtype != np.uint8 or w.shape != shape:
        raise ValueError(f"layer {i}: weights {w.dtype}{w.shape} do not fit the spec {shape}")
    d.section(f"layer {i} {type(layer).__name__}: uint8, {where}")
    d.define("uint8_t", f"{name}_w_q", _array(w, str, 24), frozen, w.size)
    d.define("int32_t", f"{name}_b_q", _array(np.asarray(p["b_q"]), _i32, 8), frozen, layer.features)
    if not frozen:
        d.define("float", f"{name}_b_f", _array(np.asarray(p["b_f"], np.float32), _f32, 6), False, layer.features)
    qparams = {"w_scale": _f32(p["w_scale"]), "w_zero": _i32(p["w_zero"]), "m0": _i32(p["m0"]),
               "shift": _i32(p["shift"])}
    d.define("explore_qparams_t", f"{name}_q", _struct(qparams, ""), frozen)


def _define_layers(d: _Definitions, model: QuantizedModel, design: Design, fp: int) -> None:
    for i, layer in enumerate(model.spec.layers):
        frozen = i not in design.trainable
        where = "flash (const)" if frozen else "RAM (trainable)"
        if isinstance(layer, (Conv, Dense)):
            (_define_float_layer if i >= fp else _define_integer_layer)(d, model, i, frozen, where)
        elif isinstance(layer, Add):
            d.section(f"layer {i} Add")
            d.define("explore_add_params_t", f"explore_l{i}_add",
                     _struct({k: _i32(model.adds[i][k]) for k in ADD_KEYS}, ""), True)


def _define_tables(d: _Definitions, spec: ModelSpec, design: Design, fp: int, training: dict) -> None:
    d.section("the layer table")
    rows = [_struct(_layer_row(spec, i, design, fp)) for i in range(len(spec.layers))]
    d.define("explore_layer_t", "explore_layers", _rows(rows), True, len(rows))
    d.section("trainable state (RAM) and training configuration")
    trows = [_trainable_row(spec, i, design, fp) for i in design.trainable]
    d.define("explore_trainable_t", "explore_trainable", _rows(trows), True, len(trows))
    d.define("uint16_t", "explore_trainable_layers", "{" + ", ".join(str(i) for i in design.trainable) + "}", True,
             len(design.trainable))
    d.define("explore_training_config_t", "explore_training", _struct({
        "config": _CONFIGS[design.config], "num_trainable": str(len(design.trainable)),
        "trainable_layers": "explore_trainable_layers", "lambda_min": _f32(training["lambda_min"]),
        "lambda_max": _f32(training["lambda_max"]), "lr": _f32(training["lr"]),
        "batch_size": str(training["batch_size"]), "epochs": str(training["epochs"])}, ""), True)


def _buffers(name: str, plan: dict) -> str:
    rows = [_struct({"name": _c_string(b["name"]), "category": _CATEGORY_NAMES[b["category"]],
                     "offset": str(b["offset"]), "size": str(b["size"]), "first_step": str(b["first_step"]),
                     "last_step": str(b["last_step"])}) for b in plan["buffers"]]
    steps = ",\n    ".join(_c_string(s) for s in plan["steps"])
    return (f"const explore_buffer_t explore_{name}_buffers[{len(rows)}] = {{\n    " + ",\n    ".join(rows)
            + f"\n}};\n\nconst char *const explore_{name}_steps[{len(plan['steps'])}] = {{\n    {steps}\n}};\n")


def _define_plans(d: _Definitions, plans: dict) -> None:
    d.section("arena plans of the cost model (offsets as planned, explore.cost.lifetimes)")
    for kind in ("training", "inference"):
        d.body.append(_buffers(kind, plans[kind]))
        d.decls.append(f"extern const explore_buffer_t explore_{kind}_buffers[{len(plans[kind]['buffers'])}];")
        d.decls.append(f"extern const char *const explore_{kind}_steps[{len(plans[kind]['steps'])}];")


# --- the two files ----------------------------------------------------------------------------------------


def state_floats(spec: ModelSpec, trainable: tuple[int, ...]) -> int:
    """Floats of gradient buffers and statistics runtime_c needs for ``trainable`` (weights + 3 per
    channel + 1 per layer, as its ``explore_state_floats``)."""
    return sum(w + 3 * c + 1 for w, c in (layer_sizes(spec, i) for i in trainable))


def _sizes(spec: ModelSpec, design: Design, plans: dict) -> dict[str, int]:
    """The ``#define``s of model.h."""
    training, inference = plans["training"], plans["inference"]
    return {
        "EXPLORE_NUM_LAYERS": len(spec.layers),
        "EXPLORE_NUM_CLASSES": spec.num_classes,
        "EXPLORE_INPUT_RANK": len(spec.input_shape),
        **{f"EXPLORE_INPUT_DIM{k}": n for k, n in enumerate(spec.input_shape)},
        "EXPLORE_NUM_TRAINABLE": len(design.trainable),
        "EXPLORE_STATE_FLOATS": state_floats(spec, design.trainable),
        "EXPLORE_ARENA_BYTES": training["size"],
        "EXPLORE_ARENA_ALIGNMENT": training["alignment"],
        "EXPLORE_NUM_TRAINING_BUFFERS": len(training["buffers"]),
        "EXPLORE_NUM_TRAINING_STEPS": len(training["steps"]),
        "EXPLORE_INFERENCE_ARENA_BYTES": inference["size"],
        "EXPLORE_NUM_INFERENCE_BUFFERS": len(inference["buffers"]),
        "EXPLORE_NUM_INFERENCE_STEPS": len(inference["steps"]),
    }


def _header(title: str, sizes: dict[str, int], decls: list[str]) -> str:
    return (f"/* {title}\n   Generated by explore {__version__} ({FORMAT}); do not edit. */\n"
            "#ifndef EXPLORE_MODEL_H\n#define EXPLORE_MODEL_H\n\n#include <stdint.h>\n\n"
            f'#define EXPLORE_BUNDLE_FORMAT "{FORMAT}"\n'
            + "".join(f"#define {k} {v}\n" for k, v in sizes.items())
            + f'\n#include "{BUNDLE_HEADER.name}"\n\n'
            + "\n".join(decls) + "\n\n#endif /* EXPLORE_MODEL_H */\n")


def _source(title: str, body: list[str]) -> str:
    return (f"/* {title}\n   Generated by explore {__version__} ({FORMAT}); do not edit.\n"
            "   const data goes to flash; the non-const arrays are the trainable state (RAM). */\n"
            '#include "model.h"\n\n' + "\n".join(body))


def c_sources(model: QuantizedModel, design: Design, training: dict, plans: dict, title: str) -> tuple[str, str]:
    """``(model.h, model.c)`` of ``model`` trained as ``design``; ``plans`` holds the ``training`` and
    ``inference`` arena plans as dicts."""
    fp = model.spec.float_from(design.config)
    d = _Definitions()
    _define_quant(d, model)
    _define_layers(d, model, design, fp)
    _define_tables(d, model.spec, design, fp, training)
    _define_plans(d, plans)
    return _header(title, _sizes(model.spec, design, plans), d.decls), _source(title, d.body)
