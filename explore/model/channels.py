"""Channel accounting of structured pruning, known from the network alone (no training, no JAX).

A producer's output channels may be removed only when nothing but pooling, flatten and depthwise
convs stand between it and the next conv/dense layer; a producer that reaches a residual
:class:`~explore.model.spec.Add` keeps all its channels.  How many channels each layer loses at a
given sparsity depends only on the layer sizes, so the cost model prices a pruned design before it
is trained, and AGP (:mod:`explore.train.agp`) removes exactly that many.
"""

from __future__ import annotations

from dataclasses import replace

from explore.model import spec as S
from explore.model.spec import ModelSpec

_PASS_THROUGH = (S.MaxPool, S.AvgPool, S.GlobalAvgPool, S.Flatten)


def channel_groups(spec: ModelSpec) -> dict[int, tuple[int, ...]]:
    """Layers whose output channels may be removed -> the depthwise convs that lose the same channels."""
    groups = {}
    for i in spec.param_layers():
        layer = spec.layers[i]
        if isinstance(layer, S.Conv) and layer.depthwise:
            continue
        followers = _followers(spec, i)
        if followers is not None:
            groups[i] = followers
    return groups


def _followers(spec: ModelSpec, producer: int) -> tuple[int, ...] | None:
    followers: list[int] = []
    tensor = producer
    while True:
        readers = spec.consumers(tensor)
        if len(readers) != 1 or isinstance(spec.layers[readers[0]], S.Add):
            return None  # network output, a fork, or a residual add
        reader = readers[0]
        layer = spec.layers[reader]
        if isinstance(layer, S.Conv) and layer.depthwise:
            followers.append(reader)
        elif not isinstance(layer, _PASS_THROUGH):
            return tuple(followers)
        tensor = reader


def allocate_removed(sparsity: float, sizes: dict[int, int]) -> dict[int, int]:
    """Channels to prune per layer: round(sparsity * all channels) in total, shared in proportion to
    layer size one channel at a time (Webster's divisor method).  Sequential sharing is monotone:
    a higher sparsity never un-prunes a channel, which AGP's growing masks need.  Every layer keeps one."""
    total = round(sparsity * sum(sizes.values()))
    counts = dict.fromkeys(sizes, 0)
    for _ in range(total):
        open_layers = [i for i in sizes if counts[i] < sizes[i] - 1]
        if not open_layers:
            break
        # max() returns the first of equal priorities, so ties go to the lower layer index.
        counts[max(open_layers, key=lambda i: sizes[i] / (counts[i] + 0.5))] += 1
    return counts


def pruned_spec(spec: ModelSpec, sparsity: float) -> ModelSpec:
    """The network structured AGP to ``sparsity`` leaves, known before any training: how many channels
    each layer loses depends only on the layer sizes (:func:`allocate_removed`), not on which ones go."""
    groups = channel_groups(spec)
    counts = allocate_removed(sparsity, {i: spec.layers[i].features for i in groups})
    removed = {}
    for i, followers in groups.items():
        for layer in (i, *followers):
            removed[layer] = counts[i]
    layers = tuple(replace(layer, features=layer.features - removed[i]) if removed.get(i) else layer
                   for i, layer in enumerate(spec.layers))
    return ModelSpec(spec.input_shape, spec.num_classes, layers)
