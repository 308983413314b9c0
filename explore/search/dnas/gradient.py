"""Differentiable design-space exploration: gradient search on the relaxed lattice (issue 8).

1. A supernet of the campaign's family is trained once, in float, on the campaign's training data
   (:mod:`explore.train.supernet`).
2. Every lattice point gets a vector: the supernet's validation loss of its (pruned) network, its
   exact costs and budget constraints (:mod:`explore.search.dnas.costs`).  :func:`explore.search.dnas.lattice.interpolate`
   relaxes it to a differentiable function of the lattice coordinates.
3. One gradient run per sweep point minimizes

       loss + Σ_k w_k · cost_k / scale_k + μ · Σ_j relu(constraint_j + margin)²

   with Adam on coordinates scaled to [0, 1], from a random start.  The weights w sweep the cost
   objectives (a random direction on the simplex times a geometric strength), which traces a
   front.  The supernet does not see the trainable depth or λ (they change on-device training, not
   the float network), so only the budget penalty moves those axes; their starts are spread.
4. The end point is rounded to the nearest lattice point and checked on the exact cost model.  The
   share of runs that land feasible is recorded; an infeasible one continues on the penalty alone
   and is rounded again.  Distinct feasible designs become the proposals, with their Optuna
   parameters, which ``explore run`` enqueues into the study.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from explore.campaign import Campaign
from explore.search.dnas.costs import LatticeCosts
from explore.model.families import SUPERNET_TAILS
from explore.model.spec import ModelSpec
from explore.campaign.boards import BoardProfile
from explore.search.dnas.lattice import DesignLattice, design_lattice, interpolate, simplex_of
from explore.train.supernet import Supernet, build_supernet, train_supernet

#: relative distance below each budget the penalty aims for, so rounding rarely crosses it
MARGIN = 0.03
PENALTY = 20.0
#: validation samples the supernet loss of a lattice point is measured on
LOSS_SAMPLES = 512
#: random lattice points whose networks the supernet trains on (with every skeleton's largest and smallest)
POPULATION = 256


@dataclass(frozen=True)
class DnasSettings:
    proposals: int
    supernet_epochs: int
    steps: int = 40
    lr: float = 0.05
    seed: int = 0
    batch_size: int = 64
    supernet_lr: float = 3e-3


@dataclass
class Proposal:
    params: dict[str, Any]
    genome: dict
    weights: dict[str, float]
    supernet_loss: float
    objectives: dict[str, float]
    feasible_when_rounded: bool


@dataclass
class DnasResult:
    proposals: list[Proposal]
    runs: int
    rounded_feasible: int
    repaired: int
    supernet_history: list[dict]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def feasible_fraction(self) -> float:
        """Share of gradient runs whose rounded end point fit every budget before any repair."""
        return self.rounded_feasible / self.runs if self.runs else 0.0

    def summary(self) -> dict:
        return {"runs": self.runs, "rounded_feasible": self.rounded_feasible,
                "feasible_fraction": self.feasible_fraction, "repaired": self.repaired,
                "proposals": [asdict(p) for p in self.proposals], "supernet_history": self.supernet_history,
                "seconds": self.seconds}


def _random_point(rng: np.random.Generator, lattice: DesignLattice) -> tuple[np.ndarray, tuple]:
    point = np.array([rng.integers(a.size) for a in lattice.axes], int)
    combo = tuple(c.values[rng.integers(len(c.values))] for c in lattice.categoricals)
    return point, combo


def supernet_population(costs: LatticeCosts, rng: np.random.Generator) -> tuple[list[ModelSpec], list[ModelSpec]]:
    """(networks the slots must hold, networks to train on): every combination of the short axes and
    categories with the long axes at their ends, and random lattice points."""
    lattice = costs.lattice
    cover: dict[ModelSpec, None] = {}
    grids = [range(a.size) if a.size <= 6 else sorted({0, a.size // 2, a.size - 1}) for a in lattice.axes]
    corners = list(itertools.product(*grids))
    combos = lattice.combos()
    pairs = [(c, k) for c in corners for k in combos]
    if len(pairs) > 3000:
        pairs = [pairs[i] for i in rng.choice(len(pairs), 3000, replace=False)]
    for point, combo in pairs:
        found = costs.exact(point, combo)
        if found.valid:
            cover[found.spec] = None
    train: list[ModelSpec] = []
    for _ in range(POPULATION):
        found = costs.exact(*_random_point(rng, lattice))
        if found.valid:
            train.append(found.spec)
            cover[found.spec] = None
    return list(cover), train


class Surface:
    """Vertex vectors [supernet loss, costs..., constraints...] of lattice points, cached."""

    def __init__(self, costs: LatticeCosts, supernet: Supernet, x_val: np.ndarray, y_val: np.ndarray) -> None:
        self.costs, self.supernet = costs, supernet
        self.x_val, self.y_val = x_val, y_val
        self._loss: dict[ModelSpec, float] = {}
        self.chance = math.log(supernet.num_classes)

    def loss(self, spec: ModelSpec | None) -> float:
        if spec is None:
            return 2 * self.chance
        if spec not in self._loss:
            value = self.supernet.loss(spec, self.x_val, self.y_val) if self.supernet.covers(spec) else self.chance
            self._loss[spec] = min(value, 2 * self.chance) if math.isfinite(value) else 2 * self.chance
        return self._loss[spec]

    def vertex(self, point: Sequence[int], combo: Sequence[Any]) -> np.ndarray:
        found = self.costs.exact(point, combo)
        return np.concatenate([[self.loss(found.spec)], self.costs.vector(found)])


def _objective_factory(n_costs: int, cost_index: np.ndarray, scales: np.ndarray) -> Callable:
    """Gradients of the guided part and of the budget penalty, each in the lattice coordinates."""
    def parts(x, base, order, table, weights):
        simplex_values = interpolate(x, base, order, table)
        loss, costs, constraints = simplex_values[0], simplex_values[1:1 + n_costs], simplex_values[1 + n_costs:]
        guided = loss + jnp.sum(weights * costs[cost_index] / scales)
        penalty = PENALTY * jnp.sum(jnp.maximum(constraints + MARGIN, 0.0) ** 2)
        return jnp.stack([guided, penalty])

    def grads(x, base, order, table, weights):
        g_guided, g_penalty = jax.jacrev(parts)(x, base, order, table, weights)
        return g_guided, g_penalty

    return jax.jit(grads)


def gradient_search(surface: Surface, lattice: DesignLattice, cost_index: np.ndarray, scales: np.ndarray,
                    settings: DnasSettings, runs: int, rng: np.random.Generator,
                    on_run: Callable[[int], None] | None = None) -> DnasResult:
    costs = surface.costs
    n_costs = len(costs.labels)
    grads = _objective_factory(n_costs, cost_index, scales)
    upper = np.maximum(lattice.upper, 1e-9)
    guided_mask = np.array([1.0 if a.architectural else 0.0 for a in lattice.axes])
    proposals: dict[tuple, Proposal] = {}
    rounded_feasible = repaired = 0
    strengths = np.geomspace(0.05, 3.0, max(runs, 1))
    rng.shuffle(strengths)
    combos = lattice.combos()
    for run in range(runs):
        direction = rng.dirichlet(np.ones(len(cost_index))) if len(cost_index) else np.zeros(0)
        weights = direction * strengths[run]
        combo = combos[rng.integers(len(combos))]
        u = rng.uniform(0.2, 1.0, len(lattice.axes))
        u = _descend(surface, lattice, combo, u, upper, weights, guided_mask, grads, settings, penalty_only=False)
        point = np.rint(u * upper).astype(int)
        found = costs.exact(point, combo)
        fits = found.feasible
        rounded_feasible += fits
        if not fits:
            u = _descend(surface, lattice, combo, u, upper, weights, guided_mask, grads, settings, penalty_only=True)
            point = np.rint(u * upper).astype(int)
            found = costs.exact(point, combo)
            repaired += found.feasible
        if found.feasible:
            key = tuple(sorted(found.params.items(), key=lambda kv: kv[0]))
            if key not in proposals:
                objectives = {label: float(v) for label, v in zip(costs.labels, found.costs)}
                proposals[key] = Proposal(found.params, found.genome, dict(zip(_cost_names(costs, cost_index),
                                                                               map(float, weights))),
                                          surface.loss(found.spec), objectives, fits)
        if on_run is not None:
            on_run(run)
    return DnasResult(list(proposals.values()), runs, int(rounded_feasible), int(repaired), [])


def _cost_names(costs: LatticeCosts, cost_index: np.ndarray) -> list[str]:
    return [costs.labels[i] for i in cost_index]


def _descend(surface: Surface, lattice: DesignLattice, combo: tuple, u: np.ndarray, upper: np.ndarray,
             weights: np.ndarray, guided_mask: np.ndarray, grads: Callable, settings: DnasSettings,
             penalty_only: bool) -> np.ndarray:
    """Adam on the [0, 1]-scaled coordinates; the guided part (loss and weighted costs) moves only
    the axes the supernet sees, the budget penalty moves every axis."""
    m = np.zeros_like(u)
    v = np.zeros_like(u)
    beta1, beta2 = 0.9, 0.999
    with jax.enable_x64(True):
        for t in range(1, settings.steps + 1):
            x = u * upper
            simplex = simplex_of(x, lattice.upper)
            table = np.stack([surface.vertex(vertex, combo) for vertex in simplex.vertices])
            g_guided, g_penalty = grads(jnp.asarray(x), jnp.asarray(simplex.base), jnp.asarray(simplex.order),
                                        jnp.asarray(table), jnp.asarray(weights, jnp.float64))
            g = np.asarray(g_penalty) + (0.0 if penalty_only else guided_mask * np.asarray(g_guided))
            g = g * upper  # chain rule to the scaled coordinates
            if penalty_only and not np.any(g):
                break
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            step = settings.lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + 1e-12)
            u = np.clip(u - step, 0.0, 1.0)
    return u


def propose(campaign: Campaign, boards: Sequence[BoardProfile], x_train: np.ndarray, y_train: np.ndarray,
            x_val: np.ndarray, y_val: np.ndarray, num_classes: int, settings: DnasSettings,
            progress: Callable[[str, int, int], None] | None = None) -> DnasResult:
    """Train the supernet, run the gradient search, return up to ``settings.proposals`` designs."""
    rng = np.random.default_rng(settings.seed)
    lattice = design_lattice(campaign)
    costs = LatticeCosts(campaign, boards, lattice, x_train.shape[1:], num_classes)
    tick = time.perf_counter()
    cover, population = supernet_population(costs, rng)
    supernet = build_supernet(cover, SUPERNET_TAILS[campaign.model.family], settings.seed)
    report = progress or (lambda stage, done, total: None)
    report("supernet", 0, settings.supernet_epochs)
    train_supernet(supernet, population, x_train, y_train, epochs=settings.supernet_epochs,
                   batch_size=settings.batch_size, lr=settings.supernet_lr, seed=settings.seed,
                   on_epoch=lambda r: report("supernet", r["epoch"], settings.supernet_epochs))
    trained = time.perf_counter()
    pick = rng.permutation(len(x_val))[:LOSS_SAMPLES]
    surface = Surface(costs, supernet, x_val[pick], y_val[pick])
    cost_objectives = [o for o in campaign.search.objectives if o.name != "accuracy"]
    cost_index = np.array([costs.objective_index(o.name, o.board) for o in cost_objectives], int)
    reference = costs.reference()
    scales = np.maximum(np.abs(reference.costs[cost_index]), 1e-12) if len(cost_index) else np.ones(0)
    runs = max(settings.proposals * 2, settings.proposals + 4)
    result = gradient_search(surface, lattice, cost_index, scales, settings, runs, rng,
                             on_run=lambda r: report("search", r + 1, runs))
    # Run order is sweep order (random strengths and directions): truncating it keeps the spread.
    result.proposals = result.proposals[:settings.proposals]
    result.supernet_history = supernet.history
    result.seconds = {"supernet": trained - tick, "search": time.perf_counter() - trained}
    return result


__all__ = ["DnasResult", "DnasSettings", "Proposal", "design_lattice", "interpolate", "propose"]
