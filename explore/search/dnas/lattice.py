"""The design lattice of a search space, and its continuous relaxation (issue 8).

Every ordered choice of a campaign's ``search`` section becomes one axis of a lattice: integer keys
take their integers (or steps), float keys their steps or :data:`FLOAT_POINTS` even points, the
trainable set "last k" its k, and λ the fraction that places λ_min between the range's low end and
λ_max (λ_max stays at the range's high end, so the expected update rate moves with λ_min alone).
Unordered choices (kernel sizes, pooling kind, numeric configuration, explicit trainable sets) are
categorical and stay discrete.

A lattice point maps to the exact Optuna parameters :func:`explore.search.sampling.sample_genome` reads, so
a proposed design is enqueued into the study and rebuilt by the same code as a sampled one.

The relaxation: between lattice points a value is interpolated on Freudenthal's triangulation of the
unit cube (sort the fractional coordinates, walk from the cell's base corner one axis at a time).
This needs d + 1 exact evaluations instead of the 2^d corners of multilinear interpolation, is
continuous everywhere, linear inside each simplex, and equals the exact value at every lattice
point; :func:`interpolate` is ``jax.numpy`` and differentiable in the coordinates.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Sequence

import jax.numpy as jnp
import numpy as np
import optuna

from explore.campaign import Campaign
from explore.search.sampling import _space_keys, sample_genome
from explore.campaign.space import Choices

#: lattice points of a float range without a step
FLOAT_POINTS = 11
#: lattice points of the λ_min fraction
LAMBDA_POINTS = 9


@dataclass(frozen=True)
class Axis:
    """One ordered lattice axis: the Optuna parameter it sets, and its values in order."""

    name: str
    values: tuple
    #: whether the float supernet sees this axis (architecture and structured sparsity do; the
    #: trainable set and λ change on-device training, which the supernet does not model)
    architectural: bool = True

    @property
    def size(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Categorical:
    name: str
    values: tuple


@dataclass(frozen=True)
class DesignLattice:
    axes: tuple[Axis, ...]
    categoricals: tuple[Categorical, ...]
    #: parameters every lattice point sets to one value
    fixed: tuple[tuple[str, Any], ...]

    @property
    def upper(self) -> np.ndarray:
        """Largest coordinate per axis."""
        return np.array([a.size - 1 for a in self.axes], np.float64)

    def params(self, point: Sequence[int], combo: Sequence[Any]) -> dict[str, Any]:
        """The Optuna parameters of lattice ``point`` with categorical values ``combo``."""
        params = dict(self.fixed)
        params.update({a.name: a.values[int(i)] for a, i in zip(self.axes, point)})
        params.update({c.name: v for c, v in zip(self.categoricals, combo)})
        return params

    def combos(self) -> list[tuple]:
        return list(itertools.product(*(c.values for c in self.categoricals)))


def _range_values(low: float, high: float, step: float | None, log: bool, integer: bool) -> tuple:
    if integer:
        if step:
            return tuple(range(int(low), int(high) + 1, int(step)))
        return tuple(range(int(low), int(high) + 1))
    if step:
        count = int(math.floor((high - low) / step + 1e-9)) + 1
        return tuple(float(low + k * step) for k in range(count))
    if high == low:
        return (float(low),)
    points = np.geomspace(low, high, FLOAT_POINTS) if log else np.linspace(low, high, FLOAT_POINTS)
    return tuple(float(v) for v in points)


def design_lattice(campaign: Campaign) -> DesignLattice:
    """The lattice of ``campaign``'s search section (see the module's docstring)."""
    search = campaign.search
    keys = _space_keys(campaign)
    axes, categoricals, fixed = [], [], []
    for name, dist in search.space.items():
        if isinstance(dist, Choices):
            categoricals.append(Categorical(name, tuple(dist.choices)))
            continue
        values = _range_values(dist.low, dist.high, dist.step, dist.log, keys[name].kind == "int")
        (axes.append(Axis(name, values)) if len(values) > 1
         else fixed.append((name, values[0])))
    if search.trainable is not None:
        if search.trainable.last is not None:
            last = search.trainable.last
            values = tuple(range(int(last.low), int(last.high) + 1))
            (axes.append(Axis("trainable_last", values, architectural=False)) if len(values) > 1
             else fixed.append(("trainable_last", values[0])))
        else:
            categoricals.append(Categorical("trainable_set", tuple(",".join(map(str, s))
                                                                   for s in search.trainable.sets)))
    if search.lambdas is not None:
        fixed.append(("lambda_max", search.lambdas.high))
        if search.lambdas.high > search.lambdas.low:
            axes.append(Axis("lambda_min_fraction", tuple(float(v) for v in np.linspace(0.0, 1.0, LAMBDA_POINTS)),
                             architectural=False))
        else:
            fixed.append(("lambda_min_fraction", 0.0))
    return DesignLattice(tuple(axes), tuple(categoricals), tuple(fixed))


def genome_at(campaign: Campaign, params: dict[str, Any]) -> dict:
    """The genome a trial with these Optuna parameters builds (the sampler's own code path)."""
    return sample_genome(optuna.trial.FixedTrial(params), campaign)


# --- Freudenthal interpolation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Simplex:
    """The simplex of the triangulation that holds a point: the cell's base corner, the axes in
    the order the walk takes them, and the d + 1 lattice points it spans."""

    base: np.ndarray
    order: np.ndarray

    @property
    def vertices(self) -> list[tuple[int, ...]]:
        point = self.base.astype(int).copy()
        out = [tuple(point)]
        for axis in self.order:
            point[axis] += 1
            out.append(tuple(point))
        return out


def simplex_of(x: np.ndarray, upper: np.ndarray) -> Simplex:
    """The simplex holding ``x`` (coordinates clipped to ``[0, upper]``); at an upper boundary the
    cell below is used, so a point on the last lattice value is its cell's far corner."""
    x = np.clip(np.asarray(x, np.float64), 0.0, upper)
    base = np.minimum(np.floor(x), np.maximum(upper - 1, 0))
    fraction = x - base
    # Ties broken by axis number: a stable sort keeps the walk identical on both sides of a face.
    order = np.argsort(-fraction, kind="stable")
    return Simplex(base, order)


def interpolate(x: jnp.ndarray, base: jnp.ndarray, order: jnp.ndarray, values: jnp.ndarray) -> jnp.ndarray:
    """Value at ``x`` of the linear interpolant over the simplex (``Simplex.base``, ``Simplex.order``)
    whose vertices carry ``values`` (shape ``(d + 1, m)``).  Differentiable in ``x``; equal to
    ``values[0]`` at the base corner.  Plain arrays, so it also runs inside ``jax.jit``."""
    fraction = (x - base)[order]
    padded = jnp.concatenate([jnp.ones(1), fraction, jnp.zeros(1)])
    weights = padded[:-1] - padded[1:]
    return weights @ values
