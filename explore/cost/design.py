"""A design point as the cost model sees it: the network after pruning, its trainable set,
numeric configuration, λ_min/λ_max and on-device batch size."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from explore.campaign import Genome, PruningConfig
from explore.model.channels import pruned_spec
from explore.model.spec import Conv, Dense, ModelSpec

#: runtime_c's EXPLORE_DENSE_WEIGHTS_MAX (explore_kernels.h): a uint8 dense layer of at most this many
#: weights runs the dense kernels, whose scratch is a few hundred bytes of stack; larger ones and
#: convolutions run the conv kernels (tests/cost/test_cost.py checks the two agree).
DENSE_KERNEL_WEIGHTS_MAX = 2048


@dataclass(frozen=True)
class Design:
    """What the cost model needs to know about one design point."""

    spec: ModelSpec
    trainable: tuple[int, ...]
    config: str = "uint8"
    lambda_min: float = 1.0
    lambda_max: float = 1.0
    batch_size: int = 48
    #: Kept-channel fraction per trainable layer recorded by a training run; None: use the prior.
    update_rates: Mapping[int, float] | None = field(default=None, compare=False)

    @property
    def sparse(self) -> bool:
        return self.lambda_min < 1.0

    @property
    def runs_integer_layers(self) -> bool:
        """Whether a layer runs in uint8 (its forward pass at least)."""
        return self.spec.float_from(self.config) > 0

    @property
    def runs_integer_depthwise(self) -> bool:
        """Whether a depthwise convolution runs in uint8."""
        integer = self.spec.layers[:self.spec.float_from(self.config)]
        return any(getattr(layer, "depthwise", False) for layer in integer)

    @property
    def trains_integer_layers(self) -> bool:
        """Whether a backward kernel runs in uint8: the first trainable layer comes before float_from."""
        return min(self.trainable) < self.spec.float_from(self.config)

    @property
    def runs_integer_conv_backward(self) -> bool:
        """Whether a uint8 backward kernel of the conv family runs (input error or weight gradient of a
        convolution, or of a dense layer too large for the dense kernels): those hold the largest scratch."""
        first, fp = min(self.trainable), self.spec.float_from(self.config)
        return any(self._uses_conv_kernels(i) for i in range(first, fp)
                   if i in self.trainable or i - 1 >= first)

    def _uses_conv_kernels(self, i: int) -> bool:
        layer = self.spec.layers[i]
        if isinstance(layer, Dense):
            return math.prod(self.spec.input_of(i)) * layer.features > DENSE_KERNEL_WEIGHTS_MAX
        return isinstance(layer, Conv)

    def rate(self, layer: int) -> float:
        """Fraction of layer ``layer``'s output channels its backward pass computes."""
        if not self.sparse:
            return 1.0
        if self.update_rates is not None and layer in self.update_rates:
            return float(self.update_rates[layer])
        channels = self.spec.layers[layer].features
        expected = min(self.lambda_min + 0.5 * (self.lambda_max - self.lambda_min), 1.0)
        return max(1, math.floor(expected * channels)) / channels


def design_from_genome(genome: Genome, pruning: PruningConfig, batch_size: int, input_shape: tuple[int, ...],
                       num_classes: int, where: str = "genome",
                       update_rates: Mapping[int, float] | None = None) -> Design:
    """The design ``genome`` describes, with structured pruning already applied."""
    spec = genome.network(input_shape, num_classes, where)
    if pruning.kind == "structured" and genome.sparsity > 0:
        spec = pruned_spec(spec, genome.sparsity)
    return Design(spec, genome.trainable_layers(spec), genome.config, genome.lambda_min, genome.lambda_max,
                  batch_size, update_rates)
