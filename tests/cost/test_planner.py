"""The arena planner on tiny hand-made cases, TFLite Micro's greedy_memory_planner_test style:
buffers with lifetimes in, the offsets the greedy strategy must give out."""

from __future__ import annotations

from explore.cost.planner import ArenaPlan, Buffer, aligned, assign_offsets


def _plan(*specs: tuple[str, int, int, int], category: str = "activation") -> dict[str, int]:
    buffers = [Buffer(name, category, size, first, last) for name, size, first, last in specs]
    return {b.name: b.offset for b in assign_offsets(buffers)}


def test_buffers_that_never_live_together_share_offset_zero() -> None:
    assert _plan(("a", 16, 0, 0), ("b", 16, 1, 1), ("c", 8, 2, 2)) == {"a": 0, "b": 0, "c": 0}


def test_a_chain_of_overlapping_lifetimes() -> None:
    # a (8 bytes) is placed first, at 0; b overlaps a in step 1, so it goes above it; c overlaps
    # only b, so it takes the hole a leaves below b.
    assert _plan(("a", 8, 0, 1), ("b", 4, 1, 2), ("c", 4, 2, 3)) == {"a": 0, "b": 8, "c": 0}


def test_largest_first_and_ties_by_first_use_then_creation_order() -> None:
    # x and y are equal in size and first use: x (created first) goes low; z and w live beside y
    # only, one at a time, and both fit below it.
    offsets = _plan(("x", 8, 0, 0), ("y", 8, 0, 3), ("z", 4, 1, 1), ("w", 4, 2, 2))
    assert offsets == {"x": 0, "y": 8, "z": 0, "w": 0}


def test_a_buffer_too_large_for_the_gap_goes_above() -> None:
    # a at 0 (16 bytes, steps 0..2), b at 16; c (12 bytes, step 2) overlaps a and not b: the gap
    # above a is free in step 2, so c sits at 16.
    assert _plan(("a", 16, 0, 2), ("b", 12, 0, 1), ("c", 12, 2, 2)) == {"a": 0, "b": 16, "c": 16}


def test_the_plan_reports_size_peak_and_breakdown() -> None:
    buffers = assign_offsets([Buffer("in", "activation", 8, 0, 1), Buffer("keep", "kept", 4, 0, 2),
                              Buffer("err", "error", 4, 2, 2)])
    plan = ArenaPlan(("s0", "s1", "s2"), tuple(buffers))
    assert plan.size == 12 and plan.peak_step() == 0 and plan.live_bytes(2) == 8
    assert plan.breakdown() == {"activation": 8, "kept": 4, "error": 0, "scratch": 0, "fragmentation": 0}
    assert sum(plan.breakdown().values()) == plan.size


def test_sizes_are_aligned_to_four_bytes() -> None:
    assert [aligned(n) for n in (0, 1, 4, 5, 8, 9)] == [0, 4, 4, 8, 8, 12]
