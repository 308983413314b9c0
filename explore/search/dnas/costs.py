"""The differentiable cost model: the exact cost model on the design lattice, relaxed in between (issue 8).

One implementation: every number comes from :func:`explore.cost.pricing.cost_design`, evaluated at lattice
points (cached), and :func:`explore.search.dnas.lattice.interpolate` (``jax.numpy``) makes it a continuous,
piecewise-linear function of the relaxed coordinates: channel counts or width multipliers, the AGP
final sparsity, the trainable depth "last k" (a soft gate between k and k + 1 trainable layers) and
the λ_min fraction that sets the expected sparse-update rate.  At lattice points it *is* the exact
model; inside a simplex its gradient is exact for the interpolant, so finite differences agree.

The vector it returns, per lattice point: for every board the :data:`COST_FIELDS`, then every budget
constraint as Optuna sees it, ``(value − limit) / limit`` (> 0 violates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from explore.campaign import Campaign, resolve_genome
from explore.cost import cost_design, design_from_genome
from explore.errors import BadInput
from explore.model.spec import ModelSpec
from explore.campaign.boards import BoardProfile
from explore.search.dnas.lattice import DesignLattice, genome_at, interpolate, simplex_of
from explore.search.sampling import constraint_values

#: per board, the relaxed figures: their labels (as a design's proposal records them) and the cost
#: objective, a property of :class:`~explore.cost.result.BoardCost`, each reads
COST_FIELDS = {"sram_bytes": "train_sram", "flash_bytes": "flash", "train_latency_ms": "train_latency",
               "infer_latency_ms": "infer_latency", "energy_mj_per_sample": "energy"}
#: constraint value of a lattice point whose genome does not build (e.g. more trainable layers than layers)
INVALID_EXCESS = 10.0


@dataclass(frozen=True)
class LatticePoint:
    """The exact evaluation of one lattice point."""

    params: dict[str, Any]
    genome: dict | None
    spec: ModelSpec | None
    costs: np.ndarray | None
    constraints: np.ndarray | None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def feasible(self) -> bool:
        return self.valid and bool(np.all(self.constraints <= 0))


class LatticeCosts:
    """Exact costs of lattice points (cached) and the relaxed cost model around any point."""

    def __init__(self, campaign: Campaign, boards: Sequence[BoardProfile], lattice: DesignLattice,
                 input_shape: tuple[int, ...], num_classes: int) -> None:
        self.campaign, self.boards, self.lattice = campaign, list(boards), lattice
        self.input_shape, self.num_classes = tuple(input_shape), num_classes
        self._cache: dict[tuple, LatticePoint] = {}
        self.labels = [f"{field}@{b.name}" for b in self.boards for field in COST_FIELDS]
        self._invalid_costs: np.ndarray | None = None

    def objective_index(self, name: str, board: str | None) -> int:
        """Where a cost objective (``train_sram``, ...) sits in the cost vector."""
        field = next(label for label, objective in COST_FIELDS.items() if objective == name)
        return self.labels.index(f"{field}@{board or self.campaign.boards[0]}")

    def exact(self, point: Sequence[int], combo: Sequence[Any]) -> LatticePoint:
        key = (tuple(int(i) for i in point), tuple(combo))
        if key not in self._cache:
            self._cache[key] = self._evaluate(*key)
        return self._cache[key]

    def _evaluate(self, point: tuple[int, ...], combo: tuple) -> LatticePoint:
        params = self.lattice.params(point, combo)
        try:
            genome = genome_at(self.campaign, params)
            design = design_from_genome(resolve_genome(self.campaign, genome, "genome"), self.campaign.pruning,
                                        self.campaign.on_device.batch_size, self.input_shape, self.num_classes)
        except BadInput as e:
            return LatticePoint(params, None, None, None, None, str(e))
        costs = cost_design(design, self.boards)
        vector = np.array([getattr(costs[b.name], name) for b in self.boards for name in COST_FIELDS.values()])
        constraints = np.array(constraint_values(self.campaign, costs), np.float64)
        return LatticePoint(params, genome, design.spec, vector, constraints)

    def vector(self, point: LatticePoint) -> np.ndarray:
        """A point's costs and constraints; a point that does not build gets ten times the reference
        design's costs and a violated constraint everywhere, so the search walks away from it."""
        if point.valid:
            return np.concatenate([point.costs, point.constraints])
        reference = self.reference()
        return np.concatenate([10.0 * reference.costs, np.full(reference.constraints.shape, INVALID_EXCESS)])

    def reference(self) -> LatticePoint:
        """The lattice's largest valid design point (all coordinates at their top, first categories),
        walking down until one builds: the scale of every cost."""
        upper = self.lattice.upper.astype(int)
        combo = self.lattice.combos()[0]
        for shrink in range(int(upper.max(initial=0)) + 1):
            found = self.exact(np.maximum(upper - shrink, 0), combo)
            if found.valid:
                return found
        raise BadInput("search.space: no design of the lattice builds a network")

    def vertex_values(self, x: np.ndarray, combo: Sequence[Any]) -> tuple[Any, np.ndarray]:
        simplex = simplex_of(x, self.lattice.upper)
        return simplex, np.stack([self.vector(self.exact(v, combo)) for v in simplex.vertices])

    def relaxed(self, x0: np.ndarray, combo: Sequence[Any]) -> Callable[[jnp.ndarray], jnp.ndarray]:
        """The relaxed cost model on the simplex holding ``x0``: a ``jax.numpy`` function of the
        lattice coordinates (differentiate it with ``jax.grad``/``jax.jacfwd``).  Call it inside
        ``jax.enable_x64(True)``: in float64 the value at a lattice point is the exact model's."""
        simplex, values = self.vertex_values(x0, combo)
        table = jnp.asarray(values)
        base, order = jnp.asarray(simplex.base), jnp.asarray(simplex.order)
        return lambda x: interpolate(x, base, order, table)

    def value(self, x: np.ndarray, combo: Sequence[Any]) -> np.ndarray:
        """The relaxed cost model at ``x`` (any point, lattice or not)."""
        with jax.enable_x64(True):
            return np.asarray(self.relaxed(x, combo)(jnp.asarray(x, jnp.float64)))
