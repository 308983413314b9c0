"""Network description as plain, hashable data: the one structure every stage agrees on.

A network is a sequence of layers in NHWC (2-D) or NLC (1-D) layout.  Layer ``i`` reads the output
of layer ``i - 1`` (tensor ``-1`` is the network input); :class:`Add` also reads the output of layer
``skip``.  Parameterised layers are :class:`Conv` and :class:`Dense`; their weights use Flax's
layouts, ``(k..., in, out)`` and ``(in, out)``, which the C runtime shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Union

import numpy as np

from explore.errors import BadInput

Activation = Literal["relu", "relu6", "none"]
ACTIVATIONS = ("relu", "relu6", "none")
Config = Literal["uint8", "mixed", "float32"]
#: Numeric configurations of on-device training (design.md 11).
CONFIGS: tuple[str, ...] = ("uint8", "mixed", "float32")


@dataclass(frozen=True)
class Conv:
    """Convolution + BatchNorm + activation, folded into one QConv for deployment (paper Fig. 2b)."""

    features: int
    kernel: tuple[int, ...]
    strides: tuple[int, ...] | None = None
    padding: Literal["same", "valid"] = "same"
    activation: Activation = "relu"
    depthwise: bool = False
    batchnorm: bool = True


@dataclass(frozen=True)
class Dense:
    features: int
    activation: Activation = "none"


@dataclass(frozen=True)
class MaxPool:
    """Non-overlapping max pooling (stride = window, 'valid')."""

    window: tuple[int, ...]


@dataclass(frozen=True)
class AvgPool:
    """Non-overlapping average pooling (stride = window, 'valid')."""

    window: tuple[int, ...]


@dataclass(frozen=True)
class GlobalAvgPool:
    pass


@dataclass(frozen=True)
class Flatten:
    pass


@dataclass(frozen=True)
class Add:
    """Requantized residual add of the previous output and the output of layer ``skip``."""

    skip: int
    activation: Activation = "none"


Layer = Union[Conv, Dense, MaxPool, AvgPool, GlobalAvgPool, Flatten, Add]
PARAM_LAYERS = (Conv, Dense)
POOLS = (MaxPool, AvgPool)


@dataclass(frozen=True)
class ModelSpec:
    """Input shape without the batch axis, e.g. ``(8, 8, 1)`` or ``(40, 1)``, and the layers."""

    input_shape: tuple[int, ...]
    num_classes: int
    layers: tuple[Layer, ...]
    shapes: tuple[tuple[int, ...], ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(self.input_shape))
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "shapes", tuple(_infer_shapes(self)))

    @property
    def spatial_dims(self) -> int:
        return len(self.input_shape) - 1

    def input_of(self, index: int) -> tuple[int, ...]:
        """Shape of the tensor layer ``index`` reads (its first input)."""
        return self.input_shape if index == 0 else self.shapes[index - 1]

    def param_layers(self) -> tuple[int, ...]:
        return tuple(i for i, layer in enumerate(self.layers) if isinstance(layer, PARAM_LAYERS))

    def head_start(self) -> int:
        """First layer of the classification head: the dense layers after the last conv/pooling."""
        start = len(self.layers)
        for i in range(len(self.layers) - 1, -1, -1):
            if isinstance(self.layers[i], (Dense, Flatten)):
                start = i
            else:
                break
        while start < len(self.layers) and isinstance(self.layers[start], Flatten):
            start += 1
        return start

    def float_from(self, config: str) -> int:
        """First layer computed in float32 under ``config``: none (uint8), the classification head
        (mixed), all (float32)."""
        if config not in CONFIGS:
            raise BadInput(f"config {config!r} must be one of {CONFIGS}")
        return {"uint8": len(self.layers), "mixed": self.head_start(), "float32": 0}[config]

    def weight_shape(self, index: int) -> tuple[int, ...]:
        """Weights of conv/dense layer ``index`` in Flax layout: ``(k..., in, out)`` or ``(in, out)``."""
        layer = self.layers[index]
        if isinstance(layer, Dense):
            return (math.prod(self.input_of(index)), layer.features)
        return tuple(layer.kernel) + (1 if layer.depthwise else self.input_of(index)[-1], layer.features)

    def param_count(self, layers: tuple[int, ...] | None = None) -> int:
        """Weights and biases of the conv/dense ``layers`` (all of them by default)."""
        chosen = self.param_layers() if layers is None else layers
        return sum(math.prod(self.weight_shape(i)) + self.layers[i].features for i in chosen)

    def consumers(self, tensor: int) -> tuple[int, ...]:
        """Layers that read tensor ``tensor`` (``-1`` is the network input), in index order."""
        readers = []
        for i, layer in enumerate(self.layers):
            if i - 1 == tensor or (isinstance(layer, Add) and layer.skip == tensor):
                readers.append(i)
        return tuple(readers)

    def terms(self, index: int) -> int:
        """Products summed per output element of layer ``index``'s forward pass."""
        layer = self.layers[index]
        in_channels = self.input_of(index)[-1]
        if isinstance(layer, Dense):
            return math.prod(self.input_of(index))
        if isinstance(layer, Conv):
            return math.prod(layer.kernel) * (1 if layer.depthwise else in_channels)
        return 0


def _conv_out(size: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-size // stride)
    return (size - kernel) // stride + 1


def _fail(index: int, layer: object, message: str) -> None:
    raise BadInput(f"layers[{index}] ({type(layer).__name__}): {message}")


def _check_window(index: int, layer: object, window: tuple[int, ...], shape: tuple[int, ...]) -> None:
    if len(window) != len(shape) - 1 or any(w < 1 for w in window):
        _fail(index, layer, f"window {window} must have {len(shape) - 1} positive sizes")
    if any(w > s for w, s in zip(window, shape)):
        _fail(index, layer, f"window {window} is larger than its input {shape[:-1]}")


def _layer_shape(spec: ModelSpec, index: int, layer: Layer, shape: tuple[int, ...], done: list) -> tuple:
    spatial = shape[:-1]
    if isinstance(layer, Conv):
        if len(layer.kernel) != len(spatial) or any(k < 1 for k in layer.kernel):
            _fail(index, layer, f"kernel {layer.kernel} must have {len(spatial)} positive sizes")
        strides = layer.strides or (1,) * len(spatial)
        if len(strides) != len(spatial) or any(s < 1 for s in strides):
            _fail(index, layer, f"strides {strides} must have {len(spatial)} positive sizes")
        if layer.padding not in ("same", "valid"):
            _fail(index, layer, f"padding {layer.padding!r} must be 'same' or 'valid'")
        if layer.depthwise and layer.features != shape[-1]:
            _fail(index, layer, f"a depthwise conv keeps its {shape[-1]} channels, not {layer.features}")
        out = tuple(_conv_out(n, k, s, layer.padding) for n, k, s in zip(spatial, layer.kernel, strides))
        if any(n < 1 for n in out):
            _fail(index, layer, f"kernel {layer.kernel} does not fit input {spatial}")
        return out + (layer.features,)
    if isinstance(layer, Dense):
        if len(shape) != 1:
            _fail(index, layer, f"needs a flat input, got shape {shape}; add Flatten or GlobalAvgPool")
        return (layer.features,)
    if isinstance(layer, POOLS):
        _check_window(index, layer, layer.window, shape)
        return tuple(n // w for n, w in zip(spatial, layer.window)) + (shape[-1],)
    if isinstance(layer, GlobalAvgPool):
        if len(shape) < 2:
            _fail(index, layer, "needs a spatial input")
        return (shape[-1],)
    if isinstance(layer, Flatten):
        return (math.prod(shape),)
    if isinstance(layer, Add):
        if not -1 <= layer.skip < index - 1:
            _fail(index, layer, f"skip {layer.skip} must name an earlier layer output (-1 .. {index - 2})")
        other = spec.input_shape if layer.skip == -1 else done[layer.skip]
        if other != shape:
            _fail(index, layer, f"adds shapes {shape} and {other}, which differ")
        return shape
    raise BadInput(f"layers[{index}]: unknown layer type {type(layer).__name__}")


def _infer_shapes(spec: ModelSpec) -> list[tuple[int, ...]]:
    if len(spec.input_shape) not in (2, 3) or any(n < 1 for n in spec.input_shape):
        raise BadInput(f"input_shape {spec.input_shape} must be (length, channels) or (height, width, channels)")
    if spec.num_classes < 2:
        raise BadInput(f"num_classes must be at least 2, got {spec.num_classes}")
    if not spec.layers:
        raise BadInput("layers must not be empty")
    shapes: list[tuple[int, ...]] = []
    shape = spec.input_shape
    for index, layer in enumerate(spec.layers):
        activation = getattr(layer, "activation", "none")
        if activation not in ACTIVATIONS:
            _fail(index, layer, f"activation {activation!r} must be one of {ACTIVATIONS}")
        shape = _layer_shape(spec, index, layer, shape, shapes)
        shapes.append(shape)
    last = spec.layers[-1]
    if not isinstance(last, Dense) or last.features != spec.num_classes or last.activation != "none":
        raise BadInput(f"the last layer must be Dense({spec.num_classes}) without activation (it gives the logits)")
    return shapes


def check_inputs(spec: ModelSpec, x: object, name: str) -> np.ndarray:
    """``x`` as float32 ``(n,) + input_shape``, finite and non-empty; else BadInput naming ``name``."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise BadInput(f"{name} must be a float array, got dtype {x.dtype}")
    if x.ndim != len(spec.input_shape) + 1 or x.shape[1:] != spec.input_shape:
        raise BadInput(f"{name} has shape {x.shape}; expected (n,) + {spec.input_shape}")
    if x.shape[0] == 0:
        raise BadInput(f"{name} is empty")
    if not np.all(np.isfinite(x)):
        raise BadInput(f"{name} contains NaN or infinity")
    return x.astype(np.float32, copy=False)


def check_labels(spec: ModelSpec, y: object, n: int, name: str) -> np.ndarray:
    """``y`` as ``n`` int32 class labels in ``[0, num_classes)``; else BadInput naming ``name``."""
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer):
        raise BadInput(f"{name} must hold integer labels, got dtype {y.dtype}")
    if y.shape != (n,):
        raise BadInput(f"{name} has shape {y.shape}; expected ({n},) to match the inputs")
    if y.min() < 0 or y.max() >= spec.num_classes:
        raise BadInput(f"{name} labels must lie in [0, {spec.num_classes}), got [{y.min()}, {y.max()}]")
    return y.astype(np.int32, copy=False)


def check_dataset(spec: ModelSpec, x: object, y: object, x_name: str, y_name: str) -> tuple[np.ndarray, np.ndarray]:
    x = check_inputs(spec, x, x_name)
    return x, check_labels(spec, y, x.shape[0], y_name)



def paper_cnn(input_shape: tuple[int, ...], num_classes: int, channels: tuple[int, int] = (8, 16),
              hidden: int = 32) -> ModelSpec:
    """The paper's full-training network (IV-D): 2 conv, max-pool, 2 dense; BN and ReLU folded."""
    k = (3,) * (len(input_shape) - 1)
    return ModelSpec(
        input_shape=input_shape,
        num_classes=num_classes,
        layers=(
            Conv(channels[0], k),
            Conv(channels[1], k),
            MaxPool((2,) * len(k)),
            Flatten(),
            Dense(hidden, activation="relu"),
            Dense(num_classes),
        ),
    )


_LAYER_TYPES = {cls.__name__: cls for cls in (Conv, Dense, MaxPool, AvgPool, GlobalAvgPool, Flatten, Add)}


def spec_to_dict(spec: ModelSpec) -> dict:
    """JSON-ready form of ``spec``: ``{"input_shape", "num_classes", "layers": [{"type", ...fields}]}``."""
    def layer_dict(layer: Layer) -> dict:
        fields = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(layer).items()}
        return {"type": type(layer).__name__, **fields}
    return {"input_shape": list(spec.input_shape), "num_classes": spec.num_classes,
            "layers": [layer_dict(layer) for layer in spec.layers]}


def spec_from_dict(data: dict) -> ModelSpec:
    """Inverse of :func:`spec_to_dict`; BadInput names the layer that does not parse."""
    layers = []
    for index, entry in enumerate(data["layers"]):
        fields = dict(entry)
        cls = _LAYER_TYPES.get(fields.pop("type", None))
        if cls is None:
            raise BadInput(f"layers[{index}]: type must be one of {', '.join(_LAYER_TYPES)}")
        try:
            layers.append(cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}))
        except TypeError as e:
            raise BadInput(f"layers[{index}] ({cls.__name__}): {e}") from None
    return ModelSpec(tuple(data["input_shape"]), int(data["num_classes"]), tuple(layers))
