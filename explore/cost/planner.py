"""The arena planner: buffers with lifetimes in, offsets out (TFLite Micro's greedy strategy).

It knows nothing of training: a buffer is a name, a category, a size and an inclusive range of
schedule steps.  :func:`assign_offsets` places buffers in order of decreasing size, each at the lowest
offset that does not collide with an already placed buffer whose lifetime overlaps.  Every size is
rounded up to :data:`ALIGNMENT` bytes, so every offset is aligned for int32/float32.  The C runtime
uses these offsets as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALIGNMENT = 4
#: What a buffer holds: an activation, a tensor kept for later steps, an error, or kernel scratch.
CATEGORIES = ("activation", "kept", "error", "scratch")


def aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGNMENT) * ALIGNMENT


@dataclass(frozen=True)
class Buffer:
    """One arena buffer: ``size`` bytes (aligned) at ``offset``, live from step ``first`` to ``last``."""

    name: str
    category: str
    size: int
    first: int
    last: int
    offset: int = -1

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last

    def to_dict(self) -> dict:
        return {"name": self.name, "category": self.category, "offset": self.offset, "size": self.size,
                "first_step": self.first, "last_step": self.last}


@dataclass(frozen=True)
class ArenaPlan:
    """Buffers with offsets over a schedule of named steps; ``size`` is the arena in bytes."""

    steps: tuple[str, ...]
    buffers: tuple[Buffer, ...]
    size: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", max((b.offset + b.size for b in self.buffers), default=0))

    def live_at(self, step: int) -> tuple[Buffer, ...]:
        return tuple(b for b in self.buffers if b.first <= step <= b.last)

    def live_bytes(self, step: int) -> int:
        return sum(b.size for b in self.live_at(step))

    def peak_step(self) -> int:
        """The step with the most live bytes (the earliest of equals)."""
        return max(range(len(self.steps)), key=lambda s: (self.live_bytes(s), -s), default=0)

    def breakdown(self) -> dict[str, int]:
        """Bytes per category live at the peak step; ``fragmentation`` is what the offsets add on top.
        The values sum to :attr:`size`."""
        peak = self.peak_step()
        parts = dict.fromkeys(CATEGORIES, 0)
        for b in self.live_at(peak):
            parts[b.category] += b.size
        parts["fragmentation"] = self.size - sum(parts.values())
        return parts

    def to_dict(self) -> dict:
        return {"size": self.size, "alignment": ALIGNMENT, "steps": list(self.steps),
                "peak_step": self.peak_step(), "breakdown": self.breakdown(),
                "buffers": [b.to_dict() for b in self.buffers]}


def assign_offsets(buffers: list[Buffer]) -> list[Buffer]:
    """TFLite Micro's greedy planner: largest first (ties: earlier first use, then creation order),
    each at the lowest offset free over its whole lifetime.  Returns the buffers in creation order."""
    order = sorted(range(len(buffers)), key=lambda k: (-buffers[k].size, buffers[k].first, k))
    placed: list[Buffer] = []
    result: dict[int, Buffer] = {}
    for k in order:
        buf = buffers[k]
        offset = 0
        for other in sorted((p for p in placed if p.overlaps_in_time(buf)), key=lambda p: p.offset):
            if offset + buf.size <= other.offset:
                break
            offset = max(offset, other.offset + other.size)
        result[k] = Buffer(buf.name, buf.category, buf.size, buf.first, buf.last, offset)
        placed.append(result[k])
    return [result[k] for k in range(len(buffers))]
