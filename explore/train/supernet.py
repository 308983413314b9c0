"""A weight-sharing supernet per model family, trained once per campaign in float (issue 8).

Every sub-network the search space can build is a :class:`~explore.model.spec.ModelSpec`; the supernet
holds one weight tensor per *slot* and every sub-network reads slices of it:

* **slimmable channels**: a layer's first ``c`` output channels (and the first input channels its
  input has) of the slot's largest tensor;
* **elastic kernel size**: the centred ``k`` taps of the slot's largest kernel ('same' padding makes
  a centred smaller kernel equal to the large one with the outer taps zero);
* **elastic depth**: slots are keyed by a layer's kind and position among its kind counted from
  the start, and the family's tail layers (classifier, MbedNet's head conv; ``SUPERNET_TAILS``)
  have their own slots, so a network with fewer stages or conv layers shares every body layer it
  has with the deeper ones.  A dense layer
  after ``Flatten`` sees a different spatial grid for each depth and has one slot per grid.

Training uses one compiled step per *skeleton* (the network with its channel counts and 'same'
kernel sizes left out): the skeleton's largest network runs with channel and kernel masks, so that
any sub-network of that skeleton is the masked large one.  Each step follows the sandwich rule: the
skeleton's largest sub-network, its smallest and a random one, with one summed loss.  There is no
BatchNorm in the supernet: masked statistics would differ per sub-network, and the supernet only
has to rank designs (every proposal is trained from scratch by its trial).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from explore.errors import BadInput
from explore.fqt.depthwise import depthwise_conv
from explore.model.deployable import FloatModel
from explore.model.spec import Add, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, MaxPool, ModelSpec

SlotKey = str
Weights = dict[SlotKey, dict[str, jax.Array]]


# --- slots and skeletons ------------------------------------------------------------------------------------


def _kind(layer: Conv | Dense) -> str:
    if isinstance(layer, Dense):
        return "dense"
    return "dw" if layer.depthwise else "conv"


def slot_keys(spec: ModelSpec, tail: dict[str, int]) -> dict[int, SlotKey]:
    """The slot each conv/dense layer of ``spec`` reads its weights from; ``tail[kind]`` last layers
    of a kind have slots of their own."""
    layers = spec.param_layers()
    kinds = [_kind(spec.layers[i]) for i in layers]
    keys = {}
    for n, (i, kind) in enumerate(zip(layers, kinds)):
        ordinal, from_end = kinds[:n].count(kind), kinds[n + 1:].count(kind)
        key = f"{kind}/last{from_end}" if from_end < tail.get(kind, 0) else f"{kind}/{ordinal}"
        if kind == "dense" and i > 0 and isinstance(spec.layers[i - 1], Flatten):
            key += "/grid" + "x".join(map(str, spec.input_of(i - 1)[:-1]))
        keys[i] = key
    return keys


def _slot_shape(spec: ModelSpec, i: int) -> tuple[tuple[int, ...], int, int]:
    """(kernel or spatial grid, input channels, output channels) of layer ``i``'s weight."""
    layer = spec.layers[i]
    if isinstance(layer, Dense):
        if i > 0 and isinstance(spec.layers[i - 1], Flatten):
            grid = spec.input_of(i - 1)
            return grid[:-1], grid[-1], layer.features
        return (), spec.input_of(i)[-1], layer.features
    return layer.kernel, 1 if layer.depthwise else spec.input_of(i)[-1], layer.features


def skeleton(spec: ModelSpec) -> tuple:
    """``spec`` without its channel counts and 'same' kernel sizes: sub-networks of one skeleton
    differ only in what masks express."""
    def bare(layer):
        if isinstance(layer, Conv):
            kernel = layer.kernel if layer.padding == "valid" else (0,) * len(layer.kernel)
            return dataclasses.replace(layer, features=0, kernel=kernel)
        if isinstance(layer, Dense):
            return dataclasses.replace(layer, features=0)
        return layer
    return (spec.input_shape, spec.num_classes, tuple(bare(layer) for layer in spec.layers))


def _elementwise_max(specs: Sequence[ModelSpec]) -> ModelSpec:
    """The largest network of one skeleton: per layer the most channels and the largest kernel."""
    layers = []
    for column in zip(*(s.layers for s in specs)):
        first = column[0]
        if isinstance(first, Conv):
            kernel = tuple(max(k) for k in zip(*(layer.kernel for layer in column)))
            layers.append(dataclasses.replace(first, features=max(layer.features for layer in column), kernel=kernel))
        elif isinstance(first, Dense):
            layers.append(dataclasses.replace(first, features=max(layer.features for layer in column)))
        else:
            layers.append(first)
    return ModelSpec(specs[0].input_shape, specs[0].num_classes, tuple(layers))


@dataclass(frozen=True)
class Layout:
    """A skeleton's largest network and the slot of each of its conv/dense layers (hashable: it keys
    the compiled training step)."""

    spec: ModelSpec
    slots: tuple[tuple[int, SlotKey], ...]


def masks_for(layout: Layout, spec: ModelSpec) -> dict[int, dict[str, np.ndarray]]:
    """Channel and kernel masks that make ``layout``'s large network compute ``spec``."""
    masks = {}
    for i, _ in layout.slots:
        big, small = layout.spec.layers[i], spec.layers[i]
        channels = np.zeros(big.features, np.float32)
        channels[:small.features] = 1.0
        entry = {"channels": channels}
        if isinstance(big, Conv):
            taps = np.zeros(big.kernel, np.float32)
            taps[tuple(slice((b - s) // 2, (b - s) // 2 + s) for b, s in zip(big.kernel, small.kernel))] = 1.0
            entry["taps"] = taps
        masks[i] = entry
    return masks


# --- forward ------------------------------------------------------------------------------------------------


def _crop(w: jax.Array, kernel: tuple[int, ...], cin: int, cout: int) -> jax.Array:
    """The centred ``kernel`` taps, first ``cin`` inputs and first ``cout`` outputs of a slot weight."""
    starts = [(full - k) // 2 for full, k in zip(w.shape[:-2], kernel)]
    index = tuple(slice(s, s + k) for s, k in zip(starts, kernel)) + (slice(0, cin), slice(0, cout))
    return w[index]


def _activate(y: jax.Array, activation: str) -> jax.Array:
    if activation == "relu":
        return jax.nn.relu(y)
    if activation == "relu6":
        return jnp.clip(y, 0.0, 6.0)
    return y


def _pool(x: jax.Array, window: tuple[int, ...], kind: str) -> jax.Array:
    dims = (1, *window, 1)
    if kind == "max":
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, dims, dims, "VALID")
    return jax.lax.reduce_window(x, 0.0, jax.lax.add, dims, dims, "VALID") / math.prod(window)


def _layer_weight(spec: ModelSpec, i: int, w: jax.Array) -> jax.Array:
    grid, cin, cout = _slot_shape(spec, i)
    if isinstance(spec.layers[i], Dense):
        return w[tuple(slice(0, n) for n in grid) + (slice(0, cin), slice(0, cout))].reshape(-1, cout)
    return _crop(w, grid, cin, cout)


def _conv(layer: Conv, x: jax.Array, w: jax.Array, dims: int) -> jax.Array:
    strides = tuple(layer.strides or (1,) * dims)
    if layer.depthwise:  # not XLA's grouped conv, ~200x slower on CPU
        return depthwise_conv(x, w, strides, layer.padding)
    spatial = "HW" if dims == 2 else "W"
    numbers = (f"N{spatial}C", f"{spatial}IO", f"N{spatial}C")
    return jax.lax.conv_general_dilated(x, w, strides, layer.padding.upper(), dimension_numbers=numbers)


def network_forward(spec: ModelSpec, weights: dict[int, dict[str, jax.Array]], x: jax.Array,
                    masks: dict[int, dict[str, jax.Array]] | None = None) -> jax.Array:
    """Float logits of ``spec`` with per-layer weights ``{i: {"w", "b"}}`` in the spec's own shapes;
    ``masks`` switch off output channels and kernel taps."""
    dims = spec.spatial_dims
    outputs = {-1: x}
    for i, layer in enumerate(spec.layers):
        inp = outputs[i - 1]
        if isinstance(layer, Conv):
            w = weights[i]["w"] if masks is None else weights[i]["w"] * masks[i]["taps"][..., None, None]
            y = _activate(_conv(layer, inp, w, dims) + weights[i]["b"], layer.activation)
        elif isinstance(layer, Dense):
            y = _activate(inp @ weights[i]["w"] + weights[i]["b"], layer.activation)
        elif isinstance(layer, (MaxPool, AvgPool)):
            y = _pool(inp, layer.window, "max" if isinstance(layer, MaxPool) else "avg")
        elif isinstance(layer, GlobalAvgPool):
            y = jnp.mean(inp, axis=tuple(range(1, inp.ndim - 1)))
        elif isinstance(layer, Flatten):
            y = inp.reshape(inp.shape[0], -1)
        elif isinstance(layer, Add):
            y = _activate(inp + outputs[layer.skip], layer.activation)
        else:  # pragma: no cover - ModelSpec admits no other layer
            raise ValueError(f"no supernet forward for {layer!r}")
        if masks is not None and i in masks:
            y = y * masks[i]["channels"]
        outputs[i] = y
    return outputs[len(spec.layers) - 1]


def _layout_weights(layout: Layout, slots: Weights) -> dict[int, dict[str, jax.Array]]:
    return {i: {"w": _layer_weight(layout.spec, i, slots[key]["w"]),
                "b": slots[key]["b"][:layout.spec.layers[i].features]} for i, key in layout.slots}


def _cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


# --- the supernet -------------------------------------------------------------------------------------------


@dataclass
class Supernet:
    """Slot weights, the skeletons it was trained on, and its training record."""

    input_shape: tuple[int, ...]
    num_classes: int
    tail: dict[str, int]
    shapes: dict[SlotKey, tuple[tuple[int, ...], int, int]]
    weights: Weights
    layouts: dict[tuple, Layout]
    history: list[dict] = field(default_factory=list)

    def covers(self, spec: ModelSpec) -> bool:
        """Whether every layer of ``spec`` fits inside its slot."""
        for i, key in slot_keys(spec, self.tail).items():
            if key not in self.shapes:
                return False
            grid, cin, cout = _slot_shape(spec, i)
            big_grid, big_cin, big_cout = self.shapes[key]
            if len(grid) != len(big_grid) or any(a > b for a, b in zip(grid, big_grid)) or cin > big_cin \
                    or cout > big_cout:
                return False
        return True

    def extract(self, spec: ModelSpec) -> FloatModel:
        """The sub-network ``spec`` with its slices of the shared weights, as a deployable float model."""
        if not self.covers(spec):
            raise BadInput("the supernet does not cover this network (a layer is larger than any it was built for)")
        params = {i: {"w": np.asarray(_layer_weight(spec, i, self.weights[key]["w"]), np.float32),
                      "b": np.asarray(self.weights[key]["b"][:spec.layers[i].features], np.float32)}
                  for i, key in slot_keys(spec, self.tail).items()}
        return FloatModel(spec, params)

    def loss(self, spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy of sub-network ``spec`` on ``(x, y)``; the masked compiled network when its
        skeleton was trained, else the extracted network (uncompiled)."""
        layout = self.layouts.get(skeleton(spec))
        if layout is not None and _fits(layout.spec, spec):
            return float(_eval_loss(layout, self.weights, masks_for(layout, spec), x, y))
        return float(_cross_entropy(self._extracted_logits(spec, x), jnp.asarray(y)))

    def accuracy(self, spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> float:
        logits = self._extracted_logits(spec, x)
        return float(np.mean(np.asarray(jnp.argmax(logits, -1)) == np.asarray(y)))

    def _extracted_logits(self, spec: ModelSpec, x: np.ndarray) -> jax.Array:
        params = {i: {k: jnp.asarray(v) for k, v in p.items()} for i, p in self.extract(spec).params.items()}
        return network_forward(spec, params, jnp.asarray(x))


def _fits(big: ModelSpec, small: ModelSpec) -> bool:
    return all(not isinstance(b, (Conv, Dense)) or (s.features <= b.features and
                                                     (isinstance(b, Dense) or all(k <= K for k, K in
                                                                                  zip(s.kernel, b.kernel))))
               for b, s in zip(big.layers, small.layers))


def _eval_loss_impl(layout: Layout, slots: Weights, masks: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    return _cross_entropy(network_forward(layout.spec, _layout_weights(layout, slots), x, masks), y)


_eval_loss = jax.jit(_eval_loss_impl, static_argnums=0)


def _init_slot(key: jax.Array, grid: tuple[int, ...], cin: int, cout: int) -> dict[str, jax.Array]:
    fan_in = math.prod(grid) * cin
    w = jax.random.normal(key, (*grid, cin, cout), jnp.float32) * math.sqrt(2.0 / fan_in)
    return {"w": w, "b": jnp.zeros((cout,), jnp.float32)}


def build_supernet(specs: Iterable[ModelSpec], tail: dict[str, int], seed: int) -> Supernet:
    """Slots large enough for every network in ``specs`` and one layout per skeleton among them."""
    specs = list(specs)
    if not specs:
        raise ValueError("a supernet needs at least one network")
    shapes: dict[SlotKey, tuple] = {}
    groups: dict[tuple, list[ModelSpec]] = {}
    for spec in specs:
        groups.setdefault(skeleton(spec), []).append(spec)
        for i, key in slot_keys(spec, tail).items():
            grid, cin, cout = _slot_shape(spec, i)
            if key in shapes:
                old = shapes[key]
                grid = tuple(max(a, b) for a, b in zip(grid, old[0]))
                cin, cout = max(cin, old[1]), max(cout, old[2])
            shapes[key] = (grid, cin, cout)
    keys = jax.random.split(jax.random.key(seed), len(shapes))
    weights = {slot: _init_slot(k, *shape) for k, (slot, shape) in zip(keys, sorted(shapes.items()))}
    layouts = {}
    for bare, members in groups.items():
        big = _elementwise_max(members)
        layouts[bare] = Layout(big, tuple(sorted(slot_keys(big, tail).items())))
    return Supernet(specs[0].input_shape, specs[0].num_classes, dict(tail), shapes, weights, layouts)


def _train_step_impl(layout: Layout, tx: optax.GradientTransformation, slots: Weights, opt_state, masks: tuple,
                     x: jax.Array, y: jax.Array):
    def loss_fn(params):
        weights = _layout_weights(layout, params)
        return sum(_cross_entropy(network_forward(layout.spec, weights, x, m), y) for m in masks) / len(masks)

    loss, grads = jax.value_and_grad(loss_fn)(slots)
    updates, opt_state = tx.update(grads, opt_state, slots)
    return optax.apply_updates(slots, updates), opt_state, loss


_train_step = jax.jit(_train_step_impl, static_argnums=(0, 1))


def train_supernet(supernet: Supernet, population: Sequence[ModelSpec], x: np.ndarray, y: np.ndarray, *,
                   epochs: int, batch_size: int, lr: float, seed: int,
                   on_epoch: Callable[[dict], None] | None = None) -> Supernet:
    """Sandwich-rule training: per step one skeleton, its largest and smallest sub-network among
    ``population`` and one random member, one summed loss (Adam)."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple, list[ModelSpec]] = {}
    for spec in population:
        groups.setdefault(skeleton(spec), []).append(spec)
    bare_keys = sorted(groups, key=repr)
    weights_of_group = np.array([len(groups[k]) for k in bare_keys], np.float64)
    weights_of_group /= weights_of_group.sum()
    smallest = {k: min(groups[k], key=lambda s: sum(getattr(l, "features", 0) for l in s.layers)) for k in bare_keys}
    tx = optax.adam(lr)
    slots = {k: dict(v) for k, v in supernet.weights.items()}
    opt_state = tx.init(slots)
    n = x.shape[0]
    batch = min(batch_size, n)
    for epoch in range(epochs):
        order = rng.permutation(n)
        losses = []
        for start in range(0, n - batch + 1, batch):
            bare = bare_keys[rng.choice(len(bare_keys), p=weights_of_group)]
            layout = supernet.layouts[bare]
            members = groups[bare]
            chosen = (layout.spec, smallest[bare], members[rng.integers(len(members))])
            masks = tuple(masks_for(layout, s) for s in chosen)
            idx = order[start:start + batch]
            slots, opt_state, loss = _train_step(layout, tx, slots, opt_state, masks, x[idx], y[idx])
            losses.append(loss)
        record = {"epoch": epoch + 1, "loss": float(jnp.mean(jnp.stack(losses)))}
        supernet.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    supernet.weights = slots
    return supernet
