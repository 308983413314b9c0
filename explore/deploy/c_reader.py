"""Reading a bundle back *from its C sources*, so that a round trip checks the data firmware receives.

The reader knows the small subset of C that :mod:`explore.deploy.c_writer` writes: ``#define NAME
int`` lines, enumerators, and declarations initialised with numbers, strings, names, ``&name``,
braced lists and designated initializers.  The enumerator values are read from the bundle's own
headers: ``model.h`` and the local headers it includes (``explore_bundle.h``; bundles exported before
that file existed have the types inline in ``model.h``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from explore.deploy.c_writer import ACTIVATIONS, ADD_KEYS, KINDS, PADDINGS
from explore.errors import BadInput
from explore.model.deployable import FloatModel, QuantizedModel, TensorQuant
from explore.model.spec import Add, AvgPool, Conv, Dense, MaxPool, ModelSpec

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<float>-?0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP][+-]?\d+[fF]?)
  | (?P<int>-?\d+)
  | (?P<name>[A-Za-z_]\w*)
  | (?P<punct>[{}\[\]=,;&.*])
)""", re.VERBOSE)
_LOCAL_INCLUDE = re.compile(r'^#include "([^"/\\]+)"\s*$', re.M)


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
    """Recursive descent over the tokens of model.c."""

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

    def braced(self) -> list | dict:
        """``{a, b}`` as a list, ``{.x = a, .y = b}`` as a dict."""
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

    def value(self) -> Any:
        kind, text = self.peek()
        if text == "{":
            return self.braced()
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

    def declaration(self) -> tuple[str, dict] | None:
        """The next declaration, or None for one without initializer."""
        words = []
        while self.peek()[1] not in ("=", "[", ";"):
            words.append(self.take()[1])
        if self.peek()[1] == "[":
            self.take("[")
            while self.take()[1] != "]":
                pass
        if self.peek()[1] == ";":
            self.take(";")
            return None
        self.take("=")
        value = self.value()
        self.take(";")
        ctype = [w for w in words[:-1] if w not in ("const", "*")][-1]
        return words[-1], {"const": "const" in words, "type": ctype, "value": value}

    def declarations(self) -> dict[str, dict]:
        out = {}
        while self.peek()[0] != "end":
            found = self.declaration()
            if found is not None:
                out[found[0]] = found[1]
        return out


def _header_text(bundle_dir: Path) -> str:
    """model.h followed by the bundle's own headers it includes."""
    header = (bundle_dir / "model.h").read_text()
    return header + "".join((bundle_dir / name).read_text() for name in _LOCAL_INCLUDE.findall(header))


def _enums(header: str) -> dict[str, int]:
    enums = {m.group(1): int(m.group(2)) for m in re.finditer(r"\b(EXPLORE_\w+) = (\d+)", header)}
    enums["INT32_MIN"] = -2**31
    return enums


def _resolve(value: Any, enums: dict[str, int]) -> Any:
    """``value`` with every enumerator name replaced by its number."""
    if isinstance(value, list):
        return [_resolve(x, enums) for x in value]
    if isinstance(value, dict):
        return {k: _resolve(x, enums) for k, x in value.items()}
    if isinstance(value, tuple) and value[0] == "name" and value[1] in enums:
        return enums[value[1]]
    return value


def _parse(bundle_dir: Path) -> tuple[dict[str, int], dict[str, int], dict[str, dict]]:
    """``(#defines, enumerators, declarations of model.c with the enumerators resolved)``."""
    header = _header_text(bundle_dir)
    defines = {m.group(1): int(m.group(2)) for m in re.finditer(r"^#define (\w+) (-?\d+)\s*$", header, re.M)}
    enums = _enums(header)
    decls = _Parser(_tokens((bundle_dir / "model.c").read_text())).declarations()
    return defines, enums, {k: {**d, "value": _resolve(d["value"], enums)} for k, d in decls.items()}


def parse_c_bundle(bundle_dir: Path) -> tuple[dict[str, int], dict[str, dict]]:
    """``(#defines of model.h, declarations of model.c)``; each declaration has ``const``, ``type``
    and ``value`` (numbers, lists, dicts of designated fields, ``("name", id)`` and ``("ref", id)``)."""
    defines, _, decls = _parse(Path(bundle_dir))
    return defines, decls


# --- the model the C data describe ------------------------------------------------------------------------


class _Names:
    """The layer table's enumerators, as numbers of this bundle's header, back to spec terms."""

    def __init__(self, enums: dict[str, int]) -> None:
        self.kinds = {enums[name]: cls for cls, name in KINDS.items()}
        self.activations = {enums[name]: act for act, name in ACTIVATIONS.items()}
        self.paddings = {enums[name]: pad for pad, name in PADDINGS.items()}

    def layer(self, row: dict) -> Any:
        cls = self.kinds[row["kind"]]
        activation = self.activations[row["activation"]]
        rank = row["in_rank"] - 1
        if cls is Conv:
            return Conv(row["channels"], tuple(row["kernel"][:rank]), tuple(row["strides"][:rank]),
                        self.paddings[row["padding"]], activation, bool(row["depthwise"]), bool(row["batchnorm"]))
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
        defines, enums, decls = _parse(bundle_dir)
        return _BundleData(bundle_dir, _Names(enums), defines, decls).model()
    except BadInput:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        raise BadInput(f"{bundle_dir}: not a readable bundle ({type(e).__name__}: {e})") from None


class _BundleData:
    """The parsed C data of one bundle, turned into the model's parts."""

    def __init__(self, bundle_dir: Path, names: _Names, defines: dict[str, int], decls: dict[str, dict]) -> None:
        self.bundle_dir, self.decls = bundle_dir, decls
        self.rows = decls["explore_layers"]["value"]
        input_shape = tuple(defines[f"EXPLORE_INPUT_DIM{k}"] for k in range(defines["EXPLORE_INPUT_RANK"]))
        self.spec = ModelSpec(input_shape, defines["EXPLORE_NUM_CLASSES"], tuple(names.layer(r) for r in self.rows))
        iq = decls["explore_input_quant"]["value"]
        self.input_quant = TensorQuant(np.float32(iq[0]), int(iq[1]))
        self.acts = tuple(TensorQuant(np.float32(s), int(z)) for s, z in decls["explore_act_quant"]["value"])

    def array(self, ref: Any, dtype: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
        arr = np.asarray(self.decls[ref[1]]["value"], dtype)
        return arr.reshape(shape) if shape is not None else arr

    def check_shapes(self) -> None:
        for i, row in enumerate(self.rows):
            if tuple(row["out_shape"][:row["out_rank"]]) != self.spec.shapes[i]:
                raise BadInput(f"{self.bundle_dir}: layer {i}: table shape {row['out_shape']} differs from "
                               f"{self.spec.shapes[i]}")

    def float_layer(self, i: int, row: dict) -> tuple[dict, dict]:
        """``(params, float params)`` of a layer that runs in float32; its integer form is zero."""
        shape = self.spec.weight_shape(i)
        b = self.array(row["bias_f"], np.float32)
        params = {"w_q": np.zeros(shape, np.uint8), "w_scale": np.float32(1), "w_zero": np.int32(0),
                  "b_f": b, "b_q": np.zeros(b.shape, np.int32), "m0": np.int32(0), "shift": np.int32(0)}
        return params, {"w": self.array(row["w_f"], np.float32, shape), "b": b}

    def integer_layer(self, i: int, row: dict) -> tuple[dict, dict]:
        """``(params, float params)`` of a uint8 layer; the float form is derived by dequantization."""
        q = self.decls[row["qparams"][1]]["value"]
        s_in = (self.input_quant if i == 0 else self.acts[i - 1]).scale
        w_q = self.array(row["w_q"], np.uint8, self.spec.weight_shape(i))
        b_q = self.array(row["b_q"], np.int32)
        w_scale, w_zero = np.float32(q["w_scale"]), np.int32(q["w_zero"])
        b_f = (self.array(row["b_f"], np.float32) if row["b_f"] != 0
               else (b_q.astype(np.float32) * np.float32(w_scale * s_in)).astype(np.float32))
        params = {"w_q": w_q, "w_scale": w_scale, "w_zero": w_zero, "b_f": b_f, "b_q": b_q,
                  "m0": np.int32(q["m0"]), "shift": np.int32(q["shift"])}
        w = ((w_q.astype(np.float32) - np.float32(w_zero)) * w_scale).astype(np.float32)
        return params, {"w": w, "b": b_f}

    def model(self) -> QuantizedModel:
        self.check_shapes()
        params, floats, adds = {}, {}, {}
        for i, row in enumerate(self.rows):
            layer = self.spec.layers[i]
            if isinstance(layer, Add):
                add = self.decls[row["add"][1]]["value"]
                adds[i] = {k: np.int32(add[k]) for k in ADD_KEYS}
            elif isinstance(layer, (Conv, Dense)):
                params[i], floats[i] = (self.float_layer if row["is_float"] else self.integer_layer)(i, row)
        return QuantizedModel(self.spec, FloatModel(self.spec, floats), self.input_quant, self.acts, params, adds)
