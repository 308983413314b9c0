"""The machine's float32 throughput at a stage's sizes, measured in the running process.

The limit a stage is held to is the faster of two jitted kernels of its network's largest layer,
as one matrix product: ``(batch x positions, inner) @ (inner, features)`` and the same product as a
1x1 convolution over the positions.  Each is timed after a warm-up, best of several runs; calls go
out a few at a time, so that dispatching one overlaps computing the one before, as in a training loop.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp

from explore.cost import macs
from explore.model.spec import Conv, ModelSpec

#: Calls in flight at once while timing: enough to hide dispatch, few enough to bound memory.
CALLS_IN_FLIGHT = 8
KERNELS = ("matmul", "conv1x1")


@dataclass(frozen=True)
class KernelShape:
    """A matrix product ``(batch x positions, inner) @ (inner, features)``."""

    batch: int
    positions: int
    inner: int
    features: int

    @property
    def flop(self) -> int:
        return 2 * self.batch * self.positions * self.inner * self.features


def largest_layer(spec: ModelSpec) -> int:
    """The conv/dense layer with the most forward MACs; depthwise convs aside unless there is
    nothing else (they run as shifted multiply-adds, not as a matrix product)."""
    layers = spec.param_layers()
    products = [i for i in layers if not (isinstance(spec.layers[i], Conv) and spec.layers[i].depthwise)]
    return max(products or layers, key=lambda i: macs(spec, i))


def layer_shape(spec: ModelSpec, i: int, batch: int) -> KernelShape:
    """Layer ``i`` for ``batch`` samples as a matrix product: output positions, the patch each output
    reads (kernel taps x input channels) and output channels."""
    layer = spec.layers[i]
    if not isinstance(layer, Conv):
        return KernelShape(batch, 1, math.prod(spec.input_of(i)), layer.features)
    channels = 1 if layer.depthwise else spec.input_of(i)[-1]
    return KernelShape(batch, math.prod(spec.shapes[i][:-1]), math.prod(layer.kernel) * channels, layer.features)


_matmul = jax.jit(jnp.matmul)
_conv1x1 = jax.jit(lambda x, w: jax.lax.conv_general_dilated(x, w, (1,), "VALID",
                                                             dimension_numbers=("NWC", "WIO", "NWC")))


def _kernel_args(shape: KernelShape, kernel: str) -> tuple:
    # Arguments, not constants, so XLA cannot fold the product; its values do not change the work.
    x = jnp.full((shape.batch * shape.positions, shape.inner), 0.5, jnp.float32)
    w = jnp.full((shape.inner, shape.features), 0.25, jnp.float32)
    if kernel == "matmul":
        return _matmul, (x, w)
    return _conv1x1, (x.reshape(shape.batch, shape.positions, shape.inner), w.reshape(1, shape.inner, shape.features))


def _seconds_per_call(kernel: str, shape: KernelShape, runs: int, min_run_s: float) -> float:
    fn, args = _kernel_args(shape, kernel)
    jax.block_until_ready(fn(*args))  # compiles
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    single = time.perf_counter() - start
    groups = max(1, math.ceil(min_run_s / (single * CALLS_IN_FLIGHT)))
    best = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(groups):
            jax.block_until_ready([fn(*args) for _ in range(CALLS_IN_FLIGHT)])
        best = min(best, (time.perf_counter() - start) / (groups * CALLS_IN_FLIGHT))
    return best


def measure_throughput(shape: KernelShape, runs: int = 5, min_run_s: float = 0.05) -> dict:
    """GFLOP/s of each kernel at ``shape`` and the limit (the faster), with the shape itself."""
    gflops = {kernel: shape.flop / _seconds_per_call(kernel, shape, runs, min_run_s) / 1e9 for kernel in KERNELS}
    fastest = max(gflops, key=gflops.get)
    return {**asdict(shape), **{f"{k}_gflops": v for k, v in gflops.items()},
            "limit_gflops": gflops[fastest], "limit_kernel": fastest}
