"""Firmware bundles (format ``explore.bundle/1``): one trained design as C99 sources for runtime_c.

:func:`export_bundle` writes ``<out_dir>/<trial>/``:

- ``model.h`` / ``model.c``: the network for the C runtime ``runtime_c``.  Only
  ``<stdint.h>`` is used; every name starts with ``explore_`` / ``EXPLORE_``.

  - Frozen layers' parameters are ``const`` arrays (the linker puts them in flash); trainable
    layers' weights, biases and quantization parameters are non-``const`` (RAM, initialised from
    flash as ``.data``), as the cost model counts them (:func:`explore.cost.memory.model_flash`).
  - An integer (uint8) conv/dense layer ``i`` has ``explore_l<i>_w_q`` (uint8, Flax layout
    ``(k..., in, out)`` / ``(in, out)``, row-major), ``explore_l<i>_b_q`` (int32 at scale
    ``w_scale * s_in``), ``explore_l<i>_q`` (``w_scale``, ``w_zero``, ``m0``, ``shift``) and, when
    trainable, ``explore_l<i>_b_f`` (float32 bias master copy).  A layer that runs in float32 (the
    ``mixed`` head, every layer of ``float32``) has ``explore_l<i>_w_f`` and ``explore_l<i>_bias_f``.
    A residual add ``i`` has ``explore_l<i>_add`` (TFLite's six multiplier parts).
  - ``explore_input_quant`` and ``explore_act_quant[]``: scale and zero point of the input and of
    every layer's output; ``explore_layers[]``: the layer table; ``explore_trainable[]``: writable
    pointers to the trainable layers' state; ``explore_training``: the training configuration;
    ``explore_training_buffers[]`` / ``explore_inference_buffers[]`` and their step names: the
    arena plans of :mod:`explore.cost.memory`, offsets as planned.

  Floats are written as C99 hexadecimal literals, so every float32 survives exactly.
- ``manifest.json`` (schema ``explore/schemas/bundle-1.schema.json``, also copied into the bundle as
  ``manifest.schema.json``): format and explore version, campaign, trial, board and budgets, genome,
  training configuration, metrics and costs on the board, and the sha256 of every other file.
- ``README.md`` for firmware engineers.

:func:`load_bundle` reads the model back *from the C sources*, so a round trip through it checks the
data firmware receives.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from explore.version import __version__
from explore.campaign import Campaign, resolve_genome
from explore.cost import Design, cost_on_board, plan_design
from explore.cost.result import BoardCost
from explore.errors import BadInput
from explore.model.deployable import FloatModel, QuantizedModel, TensorQuant
from explore.model.spec import (Add, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, MaxPool, ModelSpec,
                              spec_to_dict)
from explore.campaign.boards import BoardProfile
from explore.cost import CATEGORIES

FORMAT = "explore.bundle/1"
SCHEMA_PATH = Path(__file__).parent / "schemas" / "bundle-1.schema.json"
BUNDLE_FILES = ("model.h", "model.c", "README.md", "manifest.schema.json")

_KINDS = {Conv: "EXPLORE_CONV", Dense: "EXPLORE_DENSE", MaxPool: "EXPLORE_MAXPOOL", AvgPool: "EXPLORE_AVGPOOL",
          GlobalAvgPool: "EXPLORE_GLOBALAVGPOOL", Flatten: "EXPLORE_FLATTEN", Add: "EXPLORE_ADD"}
_ACTIVATIONS = {"none": "EXPLORE_ACT_NONE", "relu": "EXPLORE_ACT_RELU", "relu6": "EXPLORE_ACT_RELU6"}
_CONFIGS = {"uint8": "EXPLORE_CONFIG_UINT8", "mixed": "EXPLORE_CONFIG_MIXED", "float32": "EXPLORE_CONFIG_FLOAT32"}
_PADDINGS = {"same": "EXPLORE_PAD_SAME", "valid": "EXPLORE_PAD_VALID"}
_CATEGORY_NAMES = {c: f"EXPLORE_BUF_{c.upper()}" for c in CATEGORIES}
_ADD_KEYS = ("m_a", "shift_a", "m_b", "shift_b", "m_out", "shift_out")


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


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pad(values: tuple[int, ...], n: int) -> str:
    return "{" + ", ".join(str(int(v)) for v in tuple(values) + (0,) * (n - len(values))) + "}"


# --- the design behind a trial ----------------------------------------------------------------------------


def bundle_design(campaign: Campaign, genome: dict, metrics: dict, model: QuantizedModel) -> Design:
    """The design that was trained: the model's own (pruned) spec, the trainable set and configuration
    the training run recorded, and its measured update rates."""
    g = resolve_genome(campaign, genome, "genome")
    trainable = tuple(int(i) for i in metrics.get("trainable") or g.trainable_layers(model.spec))
    rates = {int(k): float(v) for k, v in (metrics.get("update_rate") or {}).items()} or None
    return Design(model.spec, trainable, metrics.get("config", g.config), g.lambda_min, g.lambda_max,
                  campaign.on_device.batch_size, rates)


# --- C sources --------------------------------------------------------------------------------------------

_HEADER_TYPES = """\
enum explore_layer_kind {
    EXPLORE_CONV = 0, EXPLORE_DENSE = 1, EXPLORE_MAXPOOL = 2, EXPLORE_AVGPOOL = 3,
    EXPLORE_GLOBALAVGPOOL = 4, EXPLORE_FLATTEN = 5, EXPLORE_ADD = 6
};
enum explore_activation { EXPLORE_ACT_NONE = 0, EXPLORE_ACT_RELU = 1, EXPLORE_ACT_RELU6 = 2 };
enum explore_padding { EXPLORE_PAD_SAME = 0, EXPLORE_PAD_VALID = 1 };
enum explore_config { EXPLORE_CONFIG_UINT8 = 0, EXPLORE_CONFIG_MIXED = 1, EXPLORE_CONFIG_FLOAT32 = 2 };
enum explore_buffer_category {
    EXPLORE_BUF_ACTIVATION = 0, EXPLORE_BUF_KEPT = 1, EXPLORE_BUF_ERROR = 2, EXPLORE_BUF_SCRATCH = 3
};

/* Static quantization of a tensor: x = scale * (q - zero). */
typedef struct {
    float scale;
    int32_t zero;
} explore_tensor_quant_t;

/* Per-tensor weight quantization and the output requantization multiplier of an integer
   conv/dense layer (TFLite convention: real multiplier = m0 * 2^(shift - 31)). */
typedef struct {
    float w_scale;
    int32_t w_zero;
    int32_t m0;
    int32_t shift;
} explore_qparams_t;

/* TFLite's quantized add: the six int32 multiplier parts. */
typedef struct {
    int32_t m_a;
    int32_t shift_a;
    int32_t m_b;
    int32_t shift_b;
    int32_t m_out;
    int32_t shift_out;
} explore_add_params_t;

/* One row of the layer table.  Shapes have no batch axis: NLC (length, channels) or NHWC
   (height, width, channels); unused entries are 0.  Layer i reads layer i-1's output (-1: input).
   Pointers that do not apply are 0 (NULL).  When trainable is 1 the parameter pointers point to
   writable RAM arrays (also reachable without casts through explore_trainable[]). */
typedef struct {
    uint8_t kind;            /* enum explore_layer_kind */
    uint8_t activation;      /* enum explore_activation, fused into the layer */
    uint8_t is_float;        /* 1: runs in float32 (mixed head, float32), 0: uint8 */
    uint8_t trainable;       /* 1: trained on-device */
    uint8_t depthwise;       /* conv only */
    uint8_t padding;         /* conv only: enum explore_padding */
    uint8_t batchnorm;       /* conv only: 1 if BatchNorm was folded into the weights */
    uint8_t in_rank;         /* entries used in in_shape */
    uint8_t out_rank;        /* entries used in out_shape */
    int16_t skip;            /* add only: the other operand's layer (-1: network input) */
    uint32_t in_shape[3];
    uint32_t out_shape[3];
    uint16_t kernel[2];      /* conv: kernel size per spatial axis */
    uint16_t strides[2];     /* conv: stride per spatial axis */
    uint16_t window[2];      /* pooling: window (= stride) per spatial axis */
    uint32_t weight_count;   /* conv/dense: weight elements */
    uint32_t channels;       /* conv/dense: output channels (= bias elements) */
    const uint8_t *w_q;      /* integer layers: uint8 weights, Flax layout (k..., in, out) */
    const int32_t *b_q;      /* integer layers: int32 bias at scale w_scale * s_in */
    const float *b_f;        /* trainable integer layers: float32 bias master copy */
    const explore_qparams_t *qparams;   /* integer layers */
    const float *w_f;        /* float layers: float32 weights, same layout */
    const float *bias_f;     /* float layers: float32 bias */
    const explore_add_params_t *add;    /* add layers */
} explore_layer_t;

/* Writable state of one trainable layer (RAM).  Gradient buffers and Welford statistics are not
   here: runtime_c allocates them (zero-initialised, see the README for their sizes). */
typedef struct {
    uint16_t layer;
    uint32_t weight_count;
    uint32_t channels;
    uint8_t *w_q;
    int32_t *b_q;
    float *b_f;
    explore_qparams_t *qparams;
    float *w_f;
    float *bias_f;
} explore_trainable_t;

/* On-device training configuration of the design. */
typedef struct {
    uint8_t config;          /* enum explore_config */
    uint8_t num_trainable;
    const uint16_t *trainable_layers;
    float lambda_min;
    float lambda_max;
    float lr;
    uint16_t batch_size;
    uint16_t epochs;
} explore_training_config_t;

/* One arena buffer of the cost model's plan: size bytes at offset, live from step first_step to
   last_step inclusive (the steps are named in explore_*_steps). */
typedef struct {
    const char *name;
    uint8_t category;        /* enum explore_buffer_category */
    uint32_t offset;
    uint32_t size;
    uint16_t first_step;
    uint16_t last_step;
} explore_buffer_t;
"""


def _layer_row(spec: ModelSpec, i: int, design: Design, fp: int) -> dict[str, str]:
    layer = spec.layers[i]
    in_shape, out_shape = spec.input_of(i), spec.shapes[i]
    is_param = isinstance(layer, (Conv, Dense))
    is_float = i >= fp
    trainable = i in design.trainable
    row = {
        "kind": _KINDS[type(layer)],
        "activation": _ACTIVATIONS[getattr(layer, "activation", "none")],
        "is_float": str(int(is_float)), "trainable": str(int(trainable)),
        "depthwise": str(int(isinstance(layer, Conv) and layer.depthwise)),
        "padding": _PADDINGS[layer.padding] if isinstance(layer, Conv) else "EXPLORE_PAD_SAME",
        "batchnorm": str(int(isinstance(layer, Conv) and layer.batchnorm)),
        "in_rank": str(len(in_shape)), "out_rank": str(len(out_shape)),
        "skip": str(layer.skip) if isinstance(layer, Add) else "0",
        "in_shape": _pad(in_shape, 3), "out_shape": _pad(out_shape, 3),
        "kernel": _pad(layer.kernel if isinstance(layer, Conv) else (), 2),
        "strides": _pad((layer.strides or (1,) * len(layer.kernel)) if isinstance(layer, Conv) else (), 2),
        "window": _pad(layer.window if isinstance(layer, (MaxPool, AvgPool)) else (), 2),
        "weight_count": str(math.prod(spec.weight_shape(i))) if is_param else "0",
        "channels": str(layer.features) if is_param else "0",
    }
    name = f"explore_l{i}"
    null = "0"
    integer = is_param and not is_float
    row.update({
        "w_q": f"{name}_w_q" if integer else null,
        "b_q": f"{name}_b_q" if integer else null,
        "b_f": f"{name}_b_f" if integer and trainable else null,
        "qparams": f"&{name}_q" if integer else null,
        "w_f": f"{name}_w_f" if is_param and is_float else null,
        "bias_f": f"{name}_bias_f" if is_param and is_float else null,
        "add": f"&{name}_add" if isinstance(layer, Add) else null,
    })
    return row


def _struct(fields: dict[str, str], indent: str = "    ") -> str:
    return "{\n" + "".join(f"{indent}    .{k} = {v},\n" for k, v in fields.items()) + indent + "}"


def _buffers(name: str, plan: dict) -> str:
    rows = [_struct({"name": _c_string(b["name"]), "category": _CATEGORY_NAMES[b["category"]],
                     "offset": str(b["offset"]), "size": str(b["size"]), "first_step": str(b["first_step"]),
                     "last_step": str(b["last_step"])}) for b in plan["buffers"]]
    steps = ",\n    ".join(_c_string(s) for s in plan["steps"])
    return (f"const explore_buffer_t explore_{name}_buffers[{len(rows)}] = {{\n    " + ",\n    ".join(rows)
            + f"\n}};\n\nconst char *const explore_{name}_steps[{len(plan['steps'])}] = {{\n    {steps}\n}};\n")


def c_sources(model: QuantizedModel, design: Design, training: dict, plans: dict, title: str) -> tuple[str, str]:
    """``(model.h, model.c)`` of ``model`` trained as ``design``."""
    spec = model.spec
    fp = spec.float_from(design.config)
    decls: list[str] = []   # extern declarations for the header
    body: list[str] = []

    def define(ctype: str, name: str, value: str, const: bool, count: int | None = None) -> None:
        qual = "const " if const else ""
        dim = f"[{count}]" if count is not None else ""
        decls.append(f"extern {qual}{ctype} {name}{dim};")
        body.append(f"{qual}{ctype} {name}{dim} = {value};\n")

    body.append("/* --- quantization of the input and of every layer's output --- */\n")
    define("explore_tensor_quant_t", "explore_input_quant",
           f"{{{_f32(model.input_quant.scale)}, {_i32(model.input_quant.zero)}}}", True)
    define("explore_tensor_quant_t", "explore_act_quant",
           "{\n    " + ",\n    ".join(f"{{{_f32(q.scale)}, {_i32(q.zero)}}}" for q in model.act_quant) + "\n}",
           True, len(model.act_quant))
    for i, layer in enumerate(spec.layers):
        name = f"explore_l{i}"
        frozen = i not in design.trainable
        if isinstance(layer, (Conv, Dense)):
            where = "flash (const)" if frozen else "RAM (trainable)"
            shape = spec.weight_shape(i)
            if i >= fp:
                p = model.float_model.params[i]
                w, b = np.asarray(p["w"], np.float32), np.asarray(p["b"], np.float32)
                if w.shape != shape or b.shape != (layer.features,):
                    raise ValueError(f"layer {i}: float weights {w.shape}/{b.shape} do not fit the spec {shape}")
                body.append(f"/* --- layer {i} {type(layer).__name__}: float32, {where} --- */\n")
                define("float", f"{name}_w_f", _array(w, _f32, 6), frozen, w.size)
                define("float", f"{name}_bias_f", _array(b, _f32, 6), frozen, b.size)
            else:
                p = model.params[i]
                w = np.asarray(p["w_q"])
                if w.dtype != np.uint8 or w.shape != shape:
                    raise ValueError(f"layer {i}: weights {w.dtype}{w.shape} do not fit the spec {shape}")
                body.append(f"/* --- layer {i} {type(layer).__name__}: uint8, {where} --- */\n")
                define("uint8_t", f"{name}_w_q", _array(w, str, 24), frozen, w.size)
                define("int32_t", f"{name}_b_q", _array(np.asarray(p["b_q"]), _i32, 8), frozen, layer.features)
                if not frozen:
                    define("float", f"{name}_b_f", _array(np.asarray(p["b_f"], np.float32), _f32, 6), False,
                           layer.features)
                define("explore_qparams_t", f"{name}_q",
                       _struct({"w_scale": _f32(p["w_scale"]), "w_zero": _i32(p["w_zero"]),
                                "m0": _i32(p["m0"]), "shift": _i32(p["shift"])}, ""), frozen)
        elif isinstance(layer, Add):
            body.append(f"/* --- layer {i} Add --- */\n")
            define("explore_add_params_t", f"{name}_add",
                   _struct({k: _i32(model.adds[i][k]) for k in _ADD_KEYS}, ""), True)

    body.append("/* --- the layer table --- */\n")
    rows = [_struct(_layer_row(spec, i, design, fp)) for i in range(len(spec.layers))]
    define("explore_layer_t", "explore_layers", "{\n    " + ",\n    ".join(rows) + "\n}", True, len(rows))

    body.append("/* --- trainable state (RAM) and training configuration --- */\n")
    trows = []
    for i in design.trainable:
        row = _layer_row(spec, i, design, fp)
        trows.append(_struct({"layer": str(i), "weight_count": row["weight_count"], "channels": row["channels"],
                              **{k: row[k].lstrip("&") if k != "qparams" else row[k]
                                 for k in ("w_q", "b_q", "b_f", "qparams", "w_f", "bias_f")}}))
    define("explore_trainable_t", "explore_trainable", "{\n    " + ",\n    ".join(trows) + "\n}", True, len(trows))
    define("uint16_t", "explore_trainable_layers", "{" + ", ".join(str(i) for i in design.trainable) + "}", True,
           len(design.trainable))
    define("explore_training_config_t", "explore_training", _struct({
        "config": _CONFIGS[design.config], "num_trainable": str(len(design.trainable)),
        "trainable_layers": "explore_trainable_layers", "lambda_min": _f32(training["lambda_min"]),
        "lambda_max": _f32(training["lambda_max"]), "lr": _f32(training["lr"]),
        "batch_size": str(training["batch_size"]), "epochs": str(training["epochs"])}, ""), True)

    body.append("/* --- arena plans of the cost model (offsets as planned, explore.cost.memory) --- */\n")
    for kind in ("training", "inference"):
        text = _buffers(kind, plans[kind])
        body.append(text)
        decls.append(f"extern const explore_buffer_t explore_{kind}_buffers[{len(plans[kind]['buffers'])}];")
        decls.append(f"extern const char *const explore_{kind}_steps[{len(plans[kind]['steps'])}];")

    defines = {
        "EXPLORE_NUM_LAYERS": len(spec.layers),
        "EXPLORE_NUM_CLASSES": spec.num_classes,
        "EXPLORE_INPUT_RANK": len(spec.input_shape),
        **{f"EXPLORE_INPUT_DIM{k}": n for k, n in enumerate(spec.input_shape)},
        "EXPLORE_NUM_TRAINABLE": len(design.trainable),
        "EXPLORE_ARENA_BYTES": plans["training"]["size"],
        "EXPLORE_ARENA_ALIGNMENT": plans["training"]["alignment"],
        "EXPLORE_NUM_TRAINING_BUFFERS": len(plans["training"]["buffers"]),
        "EXPLORE_NUM_TRAINING_STEPS": len(plans["training"]["steps"]),
        "EXPLORE_INFERENCE_ARENA_BYTES": plans["inference"]["size"],
        "EXPLORE_NUM_INFERENCE_BUFFERS": len(plans["inference"]["buffers"]),
        "EXPLORE_NUM_INFERENCE_STEPS": len(plans["inference"]["steps"]),
    }
    header = (f"/* {title}\n   Generated by explore {__version__} ({FORMAT}); do not edit. */\n"
              "#ifndef EXPLORE_MODEL_H\n#define EXPLORE_MODEL_H\n\n#include <stdint.h>\n\n"
              f'#define EXPLORE_BUNDLE_FORMAT "{FORMAT}"\n'
              + "".join(f"#define {k} {v}\n" for k, v in defines.items()) + "\n" + _HEADER_TYPES + "\n"
              + "\n".join(decls) + "\n\n#endif /* EXPLORE_MODEL_H */\n")
    source = (f"/* {title}\n   Generated by explore {__version__} ({FORMAT}); do not edit.\n"
              "   const data goes to flash; the non-const arrays are the trainable state (RAM). */\n"
              '#include "model.h"\n\n' + "\n".join(body))
    return header, source


# --- reading the C sources back ---------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<float>-?0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP][+-]?\d+[fF]?)
  | (?P<int>-?\d+)
  | (?P<name>[A-Za-z_]\w*)
  | (?P<punct>[{}\[\]=,;&.*])
)""", re.VERBOSE)


def _tokens(text: str) -> list[tuple[str, str]]:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"unexpected C text {text[pos:pos + 40]!r}")
        out.append((m.lastgroup, m.group(m.lastgroup)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.pos = tokens, 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise ValueError(f"expected {value!r}, got {token[1]!r}")
        self.pos += 1
        return token

    def value(self) -> Any:
        kind, text = self.peek()
        if text == "{":
            self.take("{")
            items: list = []
            fields: dict = {}
            while self.peek()[1] != "}":
                if self.peek()[1] == ".":
                    self.take(".")
                    key = self.take()[1]
                    self.take("=")
                    fields[key] = self.value()
                else:
                    items.append(self.value())
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("}")
            return fields if fields else items
        if text == "&":
            self.take("&")
            return ("ref", self.take()[1])
        self.take()
        if kind == "float":
            return np.float32(float.fromhex(text.rstrip("fF")))
        if kind == "int":
            return int(text)
        if kind == "string":
            return json.loads(text)
        if kind == "name":
            return ("name", text)
        raise ValueError(f"unexpected {text!r}")

    def declarations(self) -> dict[str, dict]:
        out = {}
        while self.peek()[0] != "end":
            words = []
            while self.peek()[1] not in ("=", "[", ";"):
                words.append(self.take()[1])
            if self.peek()[1] == "[":
                self.take("[")
                while self.take()[1] != "]":
                    pass
            if self.peek()[1] == ";":   # a declaration without initializer
                self.take(";")
                continue
            self.take("=")
            value = self.value()
            self.take(";")
            name = words[-1]
            out[name] = {"const": "const" in words, "type": [w for w in words[:-1] if w not in ("const", "*")][-1],
                         "value": value}
        return out


def parse_c_bundle(bundle_dir: Path) -> tuple[dict[str, int], dict[str, dict]]:
    """``(#defines of model.h, declarations of model.c)``; each declaration has ``const``, ``type``
    and ``value`` (numbers, lists, dicts of designated fields, ``("name", id)`` and ``("ref", id)``)."""
    bundle_dir = Path(bundle_dir)
    header = (bundle_dir / "model.h").read_text()
    defines = {m.group(1): int(m.group(2)) for m in re.finditer(r"^#define (\w+) (-?\d+)\s*$", header, re.M)}
    enums = {m.group(1): int(m.group(2)) for m in re.finditer(r"\b(EXPLORE_\w+) = (\d+)", header)}
    enums["INT32_MIN"] = -2**31
    decls = _Parser(_tokens((bundle_dir / "model.c").read_text())).declarations()

    def resolve(v: Any) -> Any:
        if isinstance(v, list):
            return [resolve(x) for x in v]
        if isinstance(v, dict):
            return {k: resolve(x) for k, x in v.items()}
        if isinstance(v, tuple) and v[0] == "name" and v[1] in enums:
            return enums[v[1]]
        return v

    return defines, {k: {**d, "value": resolve(d["value"])} for k, d in decls.items()}


_KIND_CLASSES = {0: Conv, 1: Dense, 2: MaxPool, 3: AvgPool, 4: GlobalAvgPool, 5: Flatten, 6: Add}
_ACT_NAMES = {0: "none", 1: "relu", 2: "relu6"}


def _spec_layer(row: dict) -> Any:
    cls = _KIND_CLASSES[row["kind"]]
    activation = _ACT_NAMES[row["activation"]]
    rank = row["in_rank"] - 1
    if cls is Conv:
        return Conv(row["channels"], tuple(row["kernel"][:rank]), tuple(row["strides"][:rank]),
                    "valid" if row["padding"] == 1 else "same", activation, bool(row["depthwise"]),
                    bool(row["batchnorm"]))
    if cls is Dense:
        return Dense(row["channels"], activation)
    if cls in (MaxPool, AvgPool):
        return cls(tuple(row["window"][:rank]))
    if cls is Add:
        return Add(row["skip"], activation)
    return cls()


def load_bundle(bundle_dir: Path) -> QuantizedModel:
    """The model a bundle's ``model.c``/``model.h`` describe, as a :class:`QuantizedModel`.

    Everything the bundle's configuration runs is read from the C arrays and the layer table.  The
    representations that a configuration does not put on the device are derived, not read: the float
    weights of integer layers (dequantized ``w_q``) and the float bias of frozen integer layers
    (``b_q`` dequantized); the integer form of float layers is zero.  Conv strides come back
    explicit (``(1, 1)`` where the spec said ``None``).  Evaluate the result in the bundle's
    ``training.config`` (``manifest.json``).
    """
    bundle_dir = Path(bundle_dir)
    try:
        return _load_bundle(bundle_dir, *parse_c_bundle(bundle_dir))
    except BadInput:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        raise BadInput(f"{bundle_dir}: not a readable bundle ({type(e).__name__}: {e})") from None


def _load_bundle(bundle_dir: Path, defines: dict[str, int], decls: dict[str, dict]) -> QuantizedModel:
    def data(ref: Any, dtype: Any, shape: tuple[int, ...] | None = None) -> Any:
        name = ref[1]
        value = decls[name]["value"]
        arr = np.asarray(value, dtype)
        return arr.reshape(shape) if shape is not None else arr

    input_shape = tuple(defines[f"EXPLORE_INPUT_DIM{k}"] for k in range(defines["EXPLORE_INPUT_RANK"]))
    rows = decls["explore_layers"]["value"]
    spec = ModelSpec(input_shape, defines["EXPLORE_NUM_CLASSES"], tuple(_spec_layer(r) for r in rows))
    for i, row in enumerate(rows):
        if tuple(row["out_shape"][:row["out_rank"]]) != spec.shapes[i]:
            raise BadInput(f"{bundle_dir}: layer {i}: table shape {row['out_shape']} differs from {spec.shapes[i]}")
    iq = decls["explore_input_quant"]["value"]
    input_quant = TensorQuant(np.float32(iq[0]), int(iq[1]))
    acts = tuple(TensorQuant(np.float32(s), int(z)) for s, z in decls["explore_act_quant"]["value"])
    params, floats, adds = {}, {}, {}
    for i, row in enumerate(rows):
        layer = spec.layers[i]
        if isinstance(layer, Add):
            add = decls[row["add"][1]]["value"]
            adds[i] = {k: np.int32(add[k]) for k in _ADD_KEYS}
        if not isinstance(layer, (Conv, Dense)):
            continue
        shape = spec.weight_shape(i)
        s_in = (input_quant if i == 0 else acts[i - 1]).scale
        if row["is_float"]:
            w = data(row["w_f"], np.float32, shape)
            b = data(row["bias_f"], np.float32)
            floats[i] = {"w": w, "b": b}
            params[i] = {"w_q": np.zeros(shape, np.uint8), "w_scale": np.float32(1), "w_zero": np.int32(0),
                         "b_f": b, "b_q": np.zeros(b.shape, np.int32), "m0": np.int32(0), "shift": np.int32(0)}
        else:
            q = decls[row["qparams"][1]]["value"]
            w_q = data(row["w_q"], np.uint8, shape)
            b_q = data(row["b_q"], np.int32)
            w_scale = np.float32(q["w_scale"])
            w_zero = np.int32(q["w_zero"])
            b_f = (data(row["b_f"], np.float32) if row["b_f"] != 0
                   else (b_q.astype(np.float32) * np.float32(w_scale * s_in)).astype(np.float32))
            params[i] = {"w_q": w_q, "w_scale": w_scale, "w_zero": w_zero, "b_f": b_f, "b_q": b_q,
                         "m0": np.int32(q["m0"]), "shift": np.int32(q["shift"])}
            floats[i] = {"w": ((w_q.astype(np.float32) - np.float32(w_zero)) * w_scale).astype(np.float32),
                         "b": b_f}
    return QuantizedModel(spec, FloatModel(spec, floats), input_quant, acts, params, adds)


# --- manifest, schema, README -----------------------------------------------------------------------------


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate_manifest(manifest: dict) -> None:
    """Raise ``jsonschema.ValidationError`` if ``manifest`` does not follow ``bundle-1.schema.json``."""
    import jsonschema

    jsonschema.Draft202012Validator(load_schema()).validate(manifest)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB ({int(n):,} bytes)"


def _readme(manifest: dict, design: Design, cost: BoardCost) -> str:
    spec_layers = manifest["model"]["layers"]
    sram, flash = cost.sram_bytes, cost.flash_bytes
    trainable = ", ".join(str(i) for i in design.trainable)
    t = manifest["training"]
    layers = "\n".join(
        f"| {i} | {layer['type']} | {'trainable (RAM)' if i in design.trainable else ('frozen (flash)' if layer['type'] in ('Conv', 'Dense') else '')} "
        f"| {'float32' if i >= manifest['model']['float_from'] else 'uint8'} |"
        for i, layer in enumerate(spec_layers))
    return f"""# Firmware bundle: {manifest['campaign']['name']}, trial {manifest['trial']}, board {manifest['board']['name']}

Generated by explore {manifest['explore_version']}, bundle format `{FORMAT}`.  Build it together with
explore's C runtime, `runtime_c/` (README there), which trains it on-device; `explore validate
<this directory> --target all` checks that the runtime trains it exactly as explore simulated it, on
the host and on Cortex-M0+/M4/M7 builds under QEMU, and measures its flash, SRAM and instructions.

## Files

| file | what it is |
|---|---|
| `model.h` | types (`explore_layer_t`, `explore_qparams_t`, ...), sizes as `#define`s, `extern` declarations; only `<stdint.h>` |
| `model.c` | the data: weights, biases, quantization parameters, the layer table, the training configuration and the arena plans |
| `manifest.json` | genome, metrics, costs on {manifest['board']['name']}, budgets, training configuration, versions, sha256 of every file |
| `manifest.schema.json` | the JSON Schema `manifest.json` follows |
| `README.md` | this file |

Compile `model.c` with any C99 compiler (`gcc -std=c99 -Wall -Wextra -Werror -c model.c` is clean).
Floats are written as hexadecimal literals so every float32 is exact.

## Flash and RAM

- **Flash** (`const`): the frozen layers' parameters, the layer table `explore_layers[]`, the
  quantization of every tensor (`explore_input_quant`, `explore_act_quant[]`), the add multipliers,
  the training configuration `explore_training` and the arena tables.
- **RAM** (non-`const`, initialised from flash as `.data`): the trainable layers' weights
  (`explore_l<i>_w_q`, or `explore_l<i>_w_f` in float32 layers), biases (`explore_l<i>_b_q` and the
  float32 master copy `explore_l<i>_b_f`) and quantization parameters (`explore_l<i>_q`: they are
  requantized after every update).  `explore_trainable[]` has writable pointers to them.
- Not in the bundle: the arena itself (`EXPLORE_ARENA_BYTES` bytes, aligned to
  `EXPLORE_ARENA_ALIGNMENT`), the float32 gradient buffers and the Welford statistics of each
  trainable layer (zero-initialised, `.bss`); the runtime allocates them.

| layer | kind | parameters | numbers |
|---|---|---|---|
{layers}

## Training configuration

`explore_training`: configuration `{t['config']}`, trainable layers [{trainable}], λ_min {t['lambda_min']:.6g},
λ_max {t['lambda_max']:.6g}, learning rate {t['lr']:g}, batch size {t['batch_size']}, {t['epochs']} epochs.

## Memory figures on {manifest['board']['name']} (cost model)

| | bytes |
|---|---|
| training SRAM total | {_kib(sram.total)} of {_kib(sram.budget)} |
| arena (`EXPLORE_ARENA_BYTES`) | {_kib(sram.arena)} |
| trainable state | {_kib(sram.trainable)} |
| runtime statics (assumed) | {_kib(sram.statics)} |
| inference SRAM | {_kib(sram.inference_total)} |
| flash total | {_kib(flash.total)} of {_kib(flash.budget)} |
| frozen layers | {_kib(flash.frozen)} |
| trainable layers' initial values | {_kib(flash.trainable_init)} |
| layer and arena tables (estimate) | {_kib(flash.tables)} |
| runtime code (assumed) | {_kib(flash.runtime)} |

Latency per training sample {cost.train_latency_ms:.3f} ms, per inference {cost.infer_latency_ms:.3f} ms,
energy {cost.energy_mj_per_sample:.4f} mJ per training sample; these rest on assumed board figures
until runtime_c calibrates them.

## Arena plan

`explore_training_buffers[]` lists every buffer of one training sample (forward, loss, backward) with
the offset the cost model planned, its size and the steps it lives over (`explore_training_steps[]`
names them: forward of layer i at step i, the loss at step L, backward of layer i at step 2L - i).
The runtime uses the offsets as they are. `explore_inference_buffers[]` is the plan for inference
alone.

## Using it

Compile `model.c` with runtime_c's `src/*.c` (include paths `runtime_c/include`, `runtime_c/src` and
this directory; `-std=c99 -ffp-contract=off`, which the bit-exactness needs):

```c
#include "explore_rt.h"     /* includes model.h */
static uint8_t arena[EXPLORE_ARENA_BYTES] __attribute__((aligned(8)));
static float state[STATE_FLOATS];      /* explore_state_floats(&model): gradients and statistics */
static const explore_model_t model = EXPLORE_BUNDLE_MODEL;
static explore_ctx_t ctx;

explore_init(&ctx, &model, arena, sizeof arena, state, sizeof state);  /* checks everything first */
explore_train_sample(&ctx, x, label, &loss, NULL);   /* {t['batch_size']} times, then */
explore_update(&ctx);                                /* the minibatch's update */
explore_infer(&ctx, x, logits);
```
"""


def export_bundle(campaign: Campaign, trial_number: int, genome: dict, metrics: dict, model: QuantizedModel,
                  board: BoardProfile, out_dir: Path) -> Path:
    """Write the bundle of one trained design to ``out_dir/<trial_number>/`` and return that path.

    The bundle is built in a temporary directory next to the target and renamed into place, so a
    failure leaves no half-written bundle; an existing bundle of the same trial is replaced."""
    out_dir = Path(out_dir)
    design = bundle_design(campaign, genome, metrics, model)
    plans = plan_design(design)
    cost = cost_on_board(design, board, plans)
    g = resolve_genome(campaign, genome, "genome")
    training = {"config": design.config, "trainable": list(design.trainable), "lambda_min": design.lambda_min,
                "lambda_max": design.lambda_max, "lr": campaign.on_device.lr,
                "batch_size": campaign.on_device.batch_size, "epochs": campaign.on_device.epochs,
                "update_rates": {str(i): design.rate(i) for i in design.trainable}}
    arena = {"training": plans.training.to_dict(), "inference": plans.inference.to_dict()}
    title = f"explore bundle: campaign {campaign.name}, trial {trial_number}, board {board.name}"
    header, source = c_sources(model, design, training, arena, title)
    accuracy = metrics.get("accuracy", {})
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "explore_version": __version__,
        "campaign": {"name": campaign.name, "family": campaign.model.family, "dataset": campaign.dataset.name,
                     "boards": list(campaign.boards)},
        "trial": int(trial_number),
        "board": {"name": board.name, "core": board.core, "clock_mhz": float(board.clock_mhz)},
        "budgets": cost.to_dict()["budgets"],
        "feasible": cost.feasible,
        "genome": g.to_dict(),
        "training": training,
        "model": {"input_shape": list(model.spec.input_shape), "num_classes": model.spec.num_classes,
                  "float_from": model.spec.float_from(design.config),
                  "layers": spec_to_dict(model.spec)["layers"]},
        "metrics": {"accuracy": accuracy, "validation_accuracy": metrics.get("validation_accuracy", {}),
                    "cost": cost},
        "memory": {"arena_bytes": plans.training.size, "inference_arena_bytes": plans.inference.size,
                   "trainable_state_bytes": plans.trainable["total"], "flash_bytes": cost.flash_bytes.total,
                   "sram_bytes": cost.sram_bytes.total},
        "files": [],
    }
    files = {"model.h": header.encode(), "model.c": source.encode(),
             "README.md": _readme(manifest, design, cost).encode(),
             "manifest.schema.json": SCHEMA_PATH.read_bytes()}
    manifest["files"] = [{"path": name, "bytes": len(data), "sha256": _sha256(data)} for name, data in files.items()]
    manifest = json.loads(json.dumps(manifest))   # plain JSON types only
    validate_manifest(manifest)
    files["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()

    target = out_dir / str(trial_number)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{trial_number}.", dir=out_dir))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)   # mkdtemp makes it private; a bundle is an ordinary directory
        for name, data in files.items():
            with open(tmp / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        old = None
        if target.exists():
            old = out_dir / f".{trial_number}.old.{os.getpid()}"
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def verify_files(bundle_dir: Path) -> list[str]:
    """Files of the bundle whose size or sha256 differ from ``manifest.json`` (empty: all match)."""
    bundle_dir = Path(bundle_dir)
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    bad = []
    for entry in manifest["files"]:
        path = bundle_dir / entry["path"]
        if not path.is_file() or _sha256(path.read_bytes()) != entry["sha256"]:
            bad.append(entry["path"])
    return bad
