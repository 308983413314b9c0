"""The training arena's buffers and their lifetimes (design.md, "Memory accounting").

The arena holds every tensor of one training sample over the fixed schedule

    step i            forward of layer i          (i = 0 .. L-1; the input sample is live from step 0)
    step L            loss: softmax cross-entropy and dL/dlogits
    step 2L - i       backward of layer i         (i = L-1 down to the first trainable layer)
    (update)          at the end of a minibatch; it works on the trainable state only, no arena

Buffers, each live over an inclusive range of steps:

- ``act{t}`` / ``input``  output of layer t (the network input): uint8, or float32 in a float layer.
  Flatten is a view: its output shares its input's buffer.  A tensor the backward pass needs is
  *kept* until then: the input of a trainable conv/dense layer (Eq. 2) and the output of every
  activated layer at or after the first trainable one (its ReLU mask).  Layers before the first
  trainable layer keep nothing (design 12).
- ``arg{i}``  max-pool winners of a pooling layer at or after the first trainable one: one byte per
  output element (two when the window has more than 256 positions).
- ``dlogits``  float32 probabilities/dL/dlogits at the loss step when the last layer is integer;
  in a float head they *are* the first error tensor.
- ``err{t}``  the error of tensor t: uint8 in integer layers (dynamically quantized, design 4),
  float32 in float layers.  Errors pass through Flatten and residual Adds unchanged (same buffer),
  except that an Add whose input layer has an activation gives that layer a copy (the layer masks
  its error in place, and the skip still needs the unmasked one);
  where two errors meet (a residual fork, or a float error entering an integer layer) a new buffer
  holds their requantized sum, computed in two passes without scratch.
- ``acc{i}``  int32 accumulators of an integer input-error computation (Eq. 1/4), needed for the
  dynamic range before requantization (design 4).
- ``select{i}``  sparse updates (λ_min < 1): uint32 l1 norm and a keep flag per output channel.

Offsets come from the planner (:mod:`explore.cost.planner`); the C runtime uses them as they are.
"""

from __future__ import annotations

import math

from explore.cost.planner import ArenaPlan, Buffer, aligned, assign_offsets
from explore.model.spec import Add, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, MaxPool, ModelSpec


class _Lifetimes:
    """Buffers under construction: a use at a later step extends a buffer's life."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.spans: dict[str, list] = {}  # name -> [category, size, first, last]

    def new(self, name: str, category: str, nbytes: int, step: int) -> str:
        if name in self.spans:
            raise AssertionError(f"arena buffer {name} planned twice")
        self.order.append(name)
        self.spans[name] = [category, aligned(nbytes), step, step]
        return name

    def use(self, name: str, step: int, category: str | None = None) -> None:
        span = self.spans[name]
        span[3] = max(span[3], step)
        if category is not None:
            span[0] = category

    def buffers(self) -> list[Buffer]:
        return [Buffer(n, *self.spans[n]) for n in self.order]


def _elements(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def select_scratch_bytes(channels: int) -> int:
    """Scratch of the sparse channel selection: an l1 norm word and a keep flag per output channel
    (runtime_c's explore_select_scratch_bytes)."""
    return 5 * channels


def input_error_scratch_bytes(in_elements: int) -> int:
    """The int32 accumulators of an integer layer's input error (runtime_c's
    explore_conv_input_error_q_scratch_bytes)."""
    return 4 * in_elements


class _Schedule:
    """Walks the training schedule once and records every buffer's lifetime in ``life``."""

    def __init__(self, spec: ModelSpec, config: str, trainable: frozenset[int], sparse: bool) -> None:
        self.spec, self.trainable, self.sparse = spec, trainable, sparse
        self.float_from = spec.float_from(config)
        self.first = min(trainable) if trainable else len(spec.layers)
        self.life = _Lifetimes()
        self.tensor_buf: dict[int, str] = {}
        # errors sent to a tensor by its readers: [(buffer, produced in float)]
        self.pending: dict[int, list[tuple[str, bool]]] = {}

    def is_float(self, tensor: int) -> bool:
        """Whether tensor ``tensor`` (-1: the input) is float32: the output of a float layer, or the
        input of an all-float network."""
        return self.float_from == 0 if tensor < 0 else self.float_from <= tensor

    def tensor_bytes(self, tensor: int, is_float: bool) -> int:
        shape = self.spec.input_shape if tensor < 0 else self.spec.shapes[tensor]
        return _elements(shape) * (4 if is_float else 1)

    def backward_step(self, i: int) -> int:
        return 2 * len(self.spec.layers) - i

    # forward --------------------------------------------------------------------------------------------

    def forward(self, training: bool) -> None:
        self.tensor_buf[-1] = self.life.new("input", "activation", self.tensor_bytes(-1, self.is_float(-1)), 0)
        for i, layer in enumerate(self.spec.layers):
            for t in (i - 1, layer.skip) if isinstance(layer, Add) else (i - 1,):
                self.life.use(self.tensor_buf[t], i)
            if isinstance(layer, Flatten):
                self.tensor_buf[i] = self.tensor_buf[i - 1]
            else:
                self.tensor_buf[i] = self.life.new(f"act{i}", "activation", self.tensor_bytes(i, self.is_float(i)), i)
            if training and i >= self.first:
                self.keep_for_backward(i, layer)

    def keep_for_backward(self, i: int, layer: object) -> None:
        back = self.backward_step(i)
        if isinstance(layer, (Conv, Dense)) and i in self.trainable:
            self.life.use(self.tensor_buf[i - 1], back, "kept")  # Eq. 2 reads the layer's input
        if getattr(layer, "activation", "none") != "none":
            self.life.use(self.tensor_buf[i], back, "kept")  # the activation's mask
        if isinstance(layer, MaxPool):
            per = 1 if math.prod(layer.window) <= 256 else 2
            self.life.new(f"arg{i}", "kept", per * _elements(self.spec.shapes[i]), i)
            self.life.use(f"arg{i}", back)

    # loss and backward ----------------------------------------------------------------------------------

    def loss(self) -> None:
        last, step = len(self.spec.layers) - 1, len(self.spec.layers)
        self.life.use(self.tensor_buf[last], step)
        classes = self.spec.num_classes
        if self.is_float(last):
            err = self.life.new("dlogits", "error", 4 * classes, step)
        else:
            self.life.new("dlogits", "scratch", 4 * classes, step)
            err = self.life.new(f"err{last}", "error", classes, step)
        self.pending[last] = [(err, self.is_float(last))]

    def incoming_error(self, i: int, step: int) -> str:
        """The error of tensor ``i``: the one that arrived, or a fresh buffer where errors are summed
        or a float error enters an integer layer (requantized anew, in two passes)."""
        arriving = self.pending.pop(i)
        for name, _ in arriving:
            self.life.use(name, step)
        if len(arriving) == 1 and arriving[0][1] == self.is_float(i):
            return arriving[0][0]
        suffix = ".sum" if len(arriving) > 1 else ".q"
        return self.life.new(f"err{i}{suffix}", "error", self.tensor_bytes(i, self.is_float(i)), step)

    def send(self, tensor: int, name: str, produced_float: bool) -> None:
        if tensor >= self.first:
            self.pending.setdefault(tensor, []).append((name, produced_float))

    def new_input_error(self, i: int, step: int) -> str:
        # A tensor read by two layers receives one error from each; name them apart.
        name = f"err{i - 1}" if len(self.spec.consumers(i - 1)) == 1 else f"err{i - 1}.{i}"
        return self.life.new(name, "error", self.tensor_bytes(i - 1, self.is_float(i)), step)

    def backward(self, i: int) -> None:
        step, layer, layer_float = self.backward_step(i), self.spec.layers[i], self.is_float(i)
        err = self.incoming_error(i, step)
        need_input = i - 1 >= self.first
        if isinstance(layer, (Conv, Dense)):
            if self.sparse and i in self.trainable:
                self.life.new(f"select{i}", "scratch", select_scratch_bytes(layer.features), step)
            if need_input and not layer_float:
                self.life.new(f"acc{i}", "scratch", input_error_scratch_bytes(_elements(self.spec.input_of(i))), step)
            if need_input:
                self.send(i - 1, self.new_input_error(i, step), layer_float)
        elif isinstance(layer, (MaxPool, AvgPool, GlobalAvgPool)) and need_input:
            self.send(i - 1, self.new_input_error(i, step), layer_float)
        elif isinstance(layer, Flatten) and need_input:
            self.send(i - 1, err, layer_float)
        elif isinstance(layer, Add):
            self.send(layer.skip, err, layer_float)
            if need_input:
                # An activated layer masks its incoming error in place; this one is also the skip's.
                masked = masks_error(self.spec, i - 1)
                self.send(i - 1, self.new_input_error(i, step) if masked else err, layer_float)


def masks_error(spec: ModelSpec, i: int) -> bool:
    """Whether the error reaching layer ``i`` (through Flatten views) gets an activation mask in place,
    so that a residual add must give it a private copy."""
    while i >= 0 and isinstance(spec.layers[i], Flatten):
        i -= 1
    return i >= 0 and getattr(spec.layers[i], "activation", "none") != "none"


def _steps(spec: ModelSpec, first: int, training: bool) -> tuple[str, ...]:
    names = [f"forward {i} {type(layer).__name__}" for i, layer in enumerate(spec.layers)]
    if training:
        names.append("loss")
        names += [f"backward {i} {type(spec.layers[i]).__name__}" for i in range(len(spec.layers) - 1, first - 1, -1)]
    return tuple(names)


def check_trainable(spec: ModelSpec, trainable: tuple[int, ...]) -> frozenset[int]:
    params = set(spec.param_layers())
    if not trainable or not set(trainable) <= params:
        raise ValueError(f"trainable {trainable} must be a non-empty set of conv/dense layers {sorted(params)}")
    return frozenset(trainable)


def training_buffers(spec: ModelSpec, trainable: tuple[int, ...], config: str, sparse: bool) -> list[Buffer]:
    """The arena buffers of one training sample with their lifetimes (no offsets yet)."""
    schedule = _Schedule(spec, config, check_trainable(spec, trainable), sparse)
    schedule.forward(training=True)
    schedule.loss()
    for i in range(len(spec.layers) - 1, schedule.first - 1, -1):
        schedule.backward(i)
    return schedule.life.buffers()


def inference_buffers(spec: ModelSpec, config: str) -> list[Buffer]:
    """Forward-only buffers: each activation lives until its last reader."""
    schedule = _Schedule(spec, config, frozenset(), sparse=False)
    schedule.forward(training=False)
    return schedule.life.buffers()


def plan_training(spec: ModelSpec, trainable: tuple[int, ...], config: str, sparse: bool) -> ArenaPlan:
    """Arena of one on-device training sample (forward, loss, backward) with planned offsets."""
    buffers = assign_offsets(training_buffers(spec, trainable, config, sparse))
    return ArenaPlan(_steps(spec, min(trainable), True), tuple(buffers))


def plan_inference(spec: ModelSpec, config: str) -> ArenaPlan:
    """Arena of inference alone, in the same numeric configuration."""
    buffers = assign_offsets(inference_buffers(spec, config))
    return ArenaPlan(_steps(spec, len(spec.layers), False), tuple(buffers))
