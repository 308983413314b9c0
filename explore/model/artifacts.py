"""The saved form of a trained quantized model: one ``.npz`` file (format ``explore.qmodel/1``).

Entries (all numpy arrays; names use ``/``):

- ``format``: the string ``explore.qmodel/1``.
- ``spec``: the network as JSON (:func:`explore.model.spec.spec_to_dict`): input shape, classes and
  every layer with its fields, in execution order.  Layer ``i`` reads layer ``i - 1``'s output.
- ``input_quant``: float64 ``[scale, zero_point]`` of the uint8 network input (x = scale * (q - zero)).
- ``act_scale`` (float32, one per layer) and ``act_zero`` (int32) of every layer's output tensor.
- ``params/<i>/<name>`` for every conv/dense layer ``i``: ``w_q`` uint8 weights in Flax layout
  ``(k..., in, out)`` / ``(in, out)``; ``w_scale`` float32 and ``w_zero`` int32 (per tensor);
  ``b_f`` float32 bias master copy; ``b_q`` int32 bias at scale ``w_scale * s_in``; ``m0`` and
  ``shift`` int32, the fixed-point multiplier of ``w_scale * s_in / s_out`` (TFLite convention).
- ``float/<i>/w`` and ``float/<i>/b``: float32 weights of layer ``i``, used by layers that train in
  float (the ``mixed`` head, ``float32``).
- ``adds/<i>/<name>``: int32 multipliers ``m_a, shift_a, m_b, shift_b, m_out, shift_out`` of each
  residual add ``i``.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from explore.errors import BadInput
from explore.model.deployable import FloatModel, QuantizedModel, TensorQuant
from explore.model.spec import spec_from_dict, spec_to_dict
from explore.io import write_bytes_atomic

FORMAT = "explore.qmodel/1"


def save_quantized(model: QuantizedModel, path: Path) -> None:
    """Write ``model`` to ``path`` atomically."""
    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT),
        "spec": np.array(json.dumps(spec_to_dict(model.spec))),
        "input_quant": np.array([float(model.input_quant.scale), model.input_quant.zero], np.float64),
        "act_scale": np.array([q.scale for q in model.act_quant], np.float32),
        "act_zero": np.array([q.zero for q in model.act_quant], np.int32),
    }
    for i, p in model.params.items():
        arrays.update({f"params/{i}/{k}": np.asarray(v) for k, v in p.items()})
    for i, p in model.float_model.params.items():
        arrays.update({f"float/{i}/{k}": np.asarray(v) for k, v in p.items()})
    for i, p in model.adds.items():
        arrays.update({f"adds/{i}/{k}": np.asarray(v) for k, v in p.items()})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes_atomic(Path(path), buffer.getvalue())


def _group(arrays: dict[str, np.ndarray], prefix: str) -> dict[int, dict[str, np.ndarray]]:
    out: dict[int, dict[str, np.ndarray]] = {}
    for name, value in arrays.items():
        if name.startswith(prefix + "/"):
            _, index, key = name.split("/")
            out.setdefault(int(index), {})[key] = value
    return out


_REQUIRED = ("format", "spec", "input_quant", "act_scale", "act_zero")


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise BadInput(f"{path}: a single .npy array, not a model file ({FORMAT})")
        with data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise BadInput(f"{path}: not a readable model file ({e})") from None


def load_quantized(path: Path) -> QuantizedModel:
    """Read a model written by :func:`save_quantized`; BadInput names the file if it is not one."""
    arrays = _read_arrays(path)
    if str(arrays.get("format", "")) != FORMAT:
        raise BadInput(f"{path}: format must be {FORMAT!r}")
    missing = [name for name in _REQUIRED if name not in arrays]
    if missing:
        raise BadInput(f"{path}: model file lacks the entries {missing}")
    try:
        return _model_from(arrays)
    except (KeyError, ValueError, TypeError, BadInput) as e:
        raise BadInput(f"{path}: inconsistent model file ({e})") from None


def _model_from(arrays: dict[str, np.ndarray]) -> QuantizedModel:
    spec = spec_from_dict(json.loads(str(arrays["spec"])))
    scale, zero = arrays["input_quant"]
    acts = tuple(TensorQuant(np.float32(s), int(z)) for s, z in zip(arrays["act_scale"], arrays["act_zero"]))
    params = {i: {k: v[()] if v.ndim == 0 else v for k, v in p.items()} for i, p in _group(arrays, "params").items()}
    return QuantizedModel(spec, FloatModel(spec, _group(arrays, "float")),
                          TensorQuant(np.float32(scale), int(zero)), acts, params,
                          {i: {k: v[()] for k, v in p.items()} for i, p in _group(arrays, "adds").items()})
