"""Count XLA compilations per pipeline stage, from JAX's own monitoring events.

Every program JAX hands to XLA passes through one ``backend_compile`` event, whose duration is the
compile time (or, with the persistent compilation cache, the time to load it from disk: such hits
are counted apart).  Tracing and lowering to MLIR, the Python-side part of a compilation, are added
up separately as ``trace_seconds``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator

import jax.monitoring

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
TRACE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration")
CACHE_HIT = "/jax/compilation_cache/cache_hits"


@dataclass
class CompileTally:
    """Compilations of one stage: how many, their seconds, how many came from the persistent cache."""

    count: int = 0
    seconds: float = 0.0
    cache_hits: int = 0
    trace_seconds: float = 0.0


class CompileCounter:
    """While entered, tallies every compilation into the stage :meth:`stage` names.

    ``with CompileCounter() as compiles: with compiles.stage("pretrain"): ...``; compilations outside
    any stage go to ``"other"``.
    """

    def __init__(self) -> None:
        self.stages: dict[str, CompileTally] = {}
        self._current = "other"

    def __enter__(self) -> CompileCounter:
        jax.monitoring.register_event_duration_secs_listener(self._on_duration)
        jax.monitoring.register_event_listener(self._on_event)
        return self

    def __exit__(self, *exc: object) -> None:
        jax.monitoring.unregister_event_duration_listener(self._on_duration)
        jax.monitoring.unregister_event_listener(self._on_event)

    @contextmanager
    def stage(self, name: str) -> Iterator[CompileTally]:
        outer, self._current = self._current, name
        try:
            yield self._tally()
        finally:
            self._current = outer

    def total(self) -> CompileTally:
        tallies = list(self.stages.values())
        return CompileTally(sum(t.count for t in tallies), sum(t.seconds for t in tallies),
                            sum(t.cache_hits for t in tallies), sum(t.trace_seconds for t in tallies))

    def to_dict(self) -> dict[str, dict]:
        """``{stage: {count, seconds, cache_hits, trace_seconds}}`` plus ``total``, for metrics.json."""
        return {**{name: asdict(t) for name, t in self.stages.items()}, "total": asdict(self.total())}

    def _tally(self) -> CompileTally:
        return self.stages.setdefault(self._current, CompileTally())

    def _on_duration(self, event: str, seconds: float, **_: object) -> None:
        if event == BACKEND_COMPILE:
            tally = self._tally()
            tally.count += 1
            tally.seconds += seconds
        elif event in TRACE_EVENTS:
            self._tally().trace_seconds += seconds

    def _on_event(self, event: str, **_: object) -> None:
        if event == CACHE_HIT:
            self._tally().cache_hits += 1
