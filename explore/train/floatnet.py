"""Float (pre-training) forms of the network, and the bridge to the folded :class:`FloatModel`.

:class:`FloatNet` builds a trainable Flax network from a :class:`ModelSpec`; layer ``i`` is the
submodule ``layer_{i}``.  :func:`fold_batchnorm` turns its variables into the deployable folded
model, and :func:`float_forward` runs that folded model through the simulator's float32 path, so
Flax and the simulator check each other.  The uint8 forms are in :mod:`explore.fqt.qlayers`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from explore.model import spec as S
from explore.model.deployable import FloatModel, LayerParams
from explore.fqt.depthwise import depthwise_conv
from explore.fqt.kernels import activate_float
from explore.fqt.simulator import float_plan, forward
from explore.model.spec import ModelSpec
from explore.errors import BadInput

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5

Variables = Mapping[str, Any]


def _window(window: tuple[int, ...]) -> tuple[int, ...]:
    # Pool windows are spatial only; lax.reduce_window wants the batch and channel axes too.
    return (1, *window, 1)


class DepthwiseConv(nn.Module):
    """``nn.Conv`` with one group per channel (same variables and initialisers), computed as shifted
    multiply-adds: XLA:CPU's grouped convolution is ~200x slower (:mod:`explore.fqt.depthwise`)."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    padding: str
    use_bias: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        w = self.param("kernel", nn.linear.default_kernel_init, self.kernel + (1, channels), jnp.float32)
        y = depthwise_conv(x, w, self.strides, self.padding)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros_init(), (channels,), jnp.float32)
        return y


class QConv(nn.Module):
    """Conv (+ BatchNorm) + activation: the float form of one deployed, BN-folded QConv."""

    features: int
    kernel: tuple[int, ...]
    strides: tuple[int, ...] | None = None
    padding: str = "same"
    activation: str = "relu"
    depthwise: bool = False
    batchnorm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        strides = tuple(self.strides or (1,) * len(self.kernel))
        # BatchNorm's beta makes a conv bias redundant; folding recreates the bias.
        if self.depthwise:
            x = DepthwiseConv(tuple(self.kernel), strides, self.padding, use_bias=not self.batchnorm, name="conv")(x)
        else:
            x = nn.Conv(self.features, kernel_size=tuple(self.kernel), strides=strides,
                        padding=self.padding.upper(), use_bias=not self.batchnorm, name="conv")(x)
        if self.batchnorm:
            x = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                             epsilon=BN_EPSILON, name="bn")(x)
        return activate_float(x, self.activation)


class Dense(nn.Module):
    features: int
    activation: str = "none"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return activate_float(nn.Dense(self.features, name="dense")(x), self.activation)


class MaxPool(nn.Module):
    window: tuple[int, ...]

    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.max_pool(x, tuple(self.window), strides=tuple(self.window), padding="VALID")


class AvgPool(nn.Module):
    window: tuple[int, ...]

    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.avg_pool(x, tuple(self.window), strides=tuple(self.window), padding="VALID")


class GlobalAvgPool(nn.Module):
    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.mean(x, axis=tuple(range(1, x.ndim - 1)))


class Flatten(nn.Module):
    def __call__(self, x: jax.Array) -> jax.Array:
        return x.reshape((x.shape[0], -1))


class ResidualAdd(nn.Module):
    activation: str = "none"

    def __call__(self, x: jax.Array, skip: jax.Array) -> jax.Array:
        return activate_float(x + skip, self.activation)


def _module(layer: S.Layer, name: str) -> nn.Module:
    if isinstance(layer, S.Conv):
        return QConv(layer.features, tuple(layer.kernel), layer.strides, layer.padding,
                     layer.activation, layer.depthwise, layer.batchnorm, name=name)
    if isinstance(layer, S.Dense):
        return Dense(layer.features, layer.activation, name=name)
    if isinstance(layer, S.MaxPool):
        return MaxPool(tuple(layer.window), name=name)
    if isinstance(layer, S.AvgPool):
        return AvgPool(tuple(layer.window), name=name)
    if isinstance(layer, S.GlobalAvgPool):
        return GlobalAvgPool(name=name)
    if isinstance(layer, S.Flatten):
        return Flatten(name=name)
    if isinstance(layer, S.Add):
        return ResidualAdd(layer.activation, name=name)
    raise BadInput(f"unknown layer type {type(layer).__name__}")


class FloatNet(nn.Module):
    """The trainable float network described by ``spec``; returns logits."""

    spec: ModelSpec

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        inputs = x
        outputs: list[jax.Array] = []
        for i, layer in enumerate(self.spec.layers):
            module = _module(layer, f"layer_{i}")
            if isinstance(layer, S.Conv):
                x = module(x, train)
            elif isinstance(layer, S.Add):
                x = module(x, inputs if layer.skip == -1 else outputs[layer.skip])
            else:
                x = module(x)
            outputs.append(x)
        return x


def _fold_layer(layer: S.Layer, params: Mapping, stats: Mapping | None) -> LayerParams:
    if isinstance(layer, S.Dense):
        return {"w": np.asarray(params["dense"]["kernel"], np.float32),
                "b": np.asarray(params["dense"]["bias"], np.float32)}
    w = np.asarray(params["conv"]["kernel"], np.float64)
    b = np.asarray(params["conv"]["bias"], np.float64) if "bias" in params["conv"] else np.zeros(w.shape[-1])
    if layer.batchnorm:
        # float64 so folding adds no rounding beyond the final float32 cast.
        bn = params["bn"]
        scale = np.asarray(bn["scale"], np.float64) / np.sqrt(np.asarray(stats["bn"]["var"], np.float64) + BN_EPSILON)
        w = w * scale
        b = np.asarray(bn["bias"], np.float64) + (b - np.asarray(stats["bn"]["mean"], np.float64)) * scale
    return {"w": w.astype(np.float32), "b": b.astype(np.float32)}


def fold_batchnorm(spec: ModelSpec, variables: Variables) -> FloatModel:
    """Fold each conv's BatchNorm (running statistics) into its weights and bias."""
    return FloatModel(spec, _folded_params(spec, variables, spec.param_layers()))


def _folded_params(spec: ModelSpec, variables: Variables, layers: Iterable[int]) -> dict[int, LayerParams]:
    params = variables["params"]
    batch_stats = variables.get("batch_stats", {})
    return {i: _fold_layer(spec.layers[i], params[f"layer_{i}"], batch_stats.get(f"layer_{i}")) for i in layers}


def init_variables(spec: ModelSpec, seed: int, layers: Iterable[int] | None = None) -> dict:
    """Fresh Flax variables of :class:`FloatNet`, drawn on the host: kernels from Flax's default
    ``lecun_normal`` (truncated normal, variance 1/fan_in), biases and BN shifts zero, BN scales and
    running variances one.  With ``layers``, only those layers'.

    Each layer draws from its own stream of ``(seed, layer)``, so re-initialising a layer gives it
    what a whole-network init gives it.  Not Flax's ``init``: jitted, that compiled for 3.4 s for
    2 ms of work (quickstart baseline), and eagerly it runs ~100 tiny programs.
    """
    names = None if layers is None else {f"layer_{i}" for i in layers}
    return {kind: {name: _draw_layer(tree, _layer_seeds(seed, name)) for name, tree in collection.items()
                   if names is None or name in names}
            for kind, collection in _variable_shapes(spec).items()}


def _layer_seeds(seed: int, layer_name: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), int(layer_name.removeprefix("layer_"))])


@functools.lru_cache(maxsize=32)
def _variable_shapes(spec: ModelSpec) -> dict:
    """The variable tree of :class:`FloatNet` (shapes only: traced, never compiled or run)."""
    dummy = jax.ShapeDtypeStruct((1, *spec.input_shape), jnp.float32)
    shapes = jax.eval_shape(lambda x: FloatNet(spec).init(jax.random.key(0), x, train=False), dummy)
    return jax.tree_util.tree_map(lambda leaf: leaf.shape, flax.core.unfreeze(shapes))


def _draw_layer(tree: dict, seeds: np.random.SeedSequence) -> dict:
    rng = np.random.default_rng(seeds)
    return {key: (_draw_layer(value, seeds.spawn(1)[0]) if isinstance(value, dict) else _initial(key, value, rng))
            for key, value in sorted(tree.items())}


# Flax's defaults by variable name: nn.Conv/nn.Dense kernels lecun_normal, biases zeros; BatchNorm
# scale ones, bias zeros; running mean zeros, var ones.
_CONSTANT = {"bias": 0.0, "scale": 1.0, "mean": 0.0, "var": 1.0}
# lecun_normal draws a standard normal truncated to [-2, 2] and rescales it to unit variance.
_TRUNCATED_STD = 0.87962566103423978


def _initial(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> jax.Array:
    if name in _CONSTANT:
        return jnp.asarray(np.full(shape, _CONSTANT[name], np.float32))
    fan_in = int(np.prod(shape[:-1]))
    z = rng.standard_normal(shape)
    outside = np.abs(z) > 2.0
    while outside.any():  # rejection keeps exactly the truncated distribution
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > 2.0
    return jnp.asarray((z * (np.sqrt(1.0 / fan_in) / _TRUNCATED_STD)).astype(np.float32))


def init_float_params(spec: ModelSpec, seed: int) -> FloatModel:
    return fold_batchnorm(spec, init_variables(spec, seed))


def reinit_layers(model: FloatModel, layers: set[int], seed: int) -> FloatModel:
    """Replace the params of the given conv/dense layers with a fresh initialisation (the values a
    whole-network :func:`init_float_params` with ``seed`` gives them)."""
    param_layers = set(model.spec.param_layers())
    for index in sorted(layers):
        if index not in param_layers:
            raise BadInput(f"layer {index} is not a conv/dense layer; reinit needs one of {sorted(param_layers)}")
    fresh = _folded_params(model.spec, init_variables(model.spec, seed, layers), layers)
    params = {i: (fresh[i] if i in layers else dict(p)) for i, p in model.params.items()}
    return FloatModel(model.spec, params)


def _folded_logits(spec: ModelSpec, params: Mapping, x: jax.Array) -> jax.Array:
    return forward(float_plan(spec), params, {}, x, keep=False)[0]


# The spec is hashable plain data, so it can key the compilation cache.
_folded_logits_jit = jax.jit(_folded_logits, static_argnums=0)


def float_forward(model: FloatModel, x: np.ndarray | jax.Array) -> jax.Array:
    """Logits of the folded ``model`` for a batch ``x`` of shape ``(n,) + spec.input_shape``.

    It runs the simulator's float32 path, so checking it against :class:`FloatNet` checks that path.
    """
    x = jnp.asarray(x, jnp.float32)
    if x.shape[1:] != model.spec.input_shape:
        raise BadInput(f"x has shape {x.shape}; expected (n,) + {model.spec.input_shape}")
    params = {i: jax.device_put(dict(p)) for i, p in model.params.items()}
    return _folded_logits_jit(model.spec, params, x)
