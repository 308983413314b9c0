"""``explore bench``: the benchmarks of explore's components; each writes JSON under results/bench."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from explore.resources import search_spaces_dir

QUICKSTART = search_spaces_dir() / "quickstart.yaml"
BENCH_DIR = Path("results/bench")
CORES = ("cortex-m0plus", "cortex-m4", "cortex-m7")


@click.group()
def bench() -> None:
    """Benchmarks of explore's components."""


@dataclass(frozen=True)
class FqtBenchOptions:
    out: Path
    batch_size: int
    steps: int


@bench.command("fqt")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=BENCH_DIR, show_default=True,
              help="Directory for fqt.json.")
@click.option("--batch-size", type=click.IntRange(min=1), default=48, show_default=True,
              help="Batch size of the measured training steps.")
@click.option("--steps", type=click.IntRange(min=1), default=30, show_default=True,
              help="Timed training steps per configuration.")
def bench_fqt(**params: Any) -> None:
    """Measure FQT simulator throughput (uint8, mixed and float32, each against
    a plain jax.grad + optax float32 step of the same network and batch) and
    compile time; writes results/bench/fqt.json."""
    options = FqtBenchOptions(**params)
    from explore.bench.fqt import run_fqt_bench

    run_fqt_bench(out_dir=options.out, batch_size=options.batch_size, steps=options.steps)


@dataclass(frozen=True)
class EvaluateBenchOptions:
    campaign: Path
    out: Path
    sparsities: tuple[float, ...]


def _sparsities(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, ...]:
    try:
        return tuple(float(s) for s in value.split(",") if s.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} must be comma-separated numbers", param_hint="'--sparsities'") from None


@bench.command("evaluate")
@click.argument("campaign", type=click.Path(path_type=Path), default=QUICKSTART)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=BENCH_DIR, show_default=True,
              help="Directory for evaluate.json and the bench's compilation cache (DIR/evaluate/).")
@click.option("--sparsities", default="0,0.25,0.5,0.75", show_default=True, callback=_sparsities,
              help="Comma-separated AGP final sparsities for the accuracy-vs-sparsity sweep ('' to skip).")
def bench_evaluate(**params: Any) -> None:
    """Time one evaluate of CAMPAIGN's baseline (default: the quickstart) by
    stage against the compute limit (FLOPs at the float32 throughput measured
    in the same process), from an empty compilation cache (DIR/evaluate/) and
    again in a fresh process on the cache it filled; then sweep the AGP final
    sparsity and record accuracy against it; writes DIR/evaluate.json.
    Targets: limit_ratio <= 5, compile_share <= 0.2, warm_limit_ratio <= 3."""
    options = EvaluateBenchOptions(**params)
    from explore.bench.evaluate import run_evaluate_bench

    run_evaluate_bench(options.campaign, out_dir=options.out, sparsities=list(options.sparsities))


@dataclass(frozen=True)
class RuntimeBenchOptions:
    out: Path
    cores: tuple[str, ...]
    fit_designs: int
    held_out: int
    winner: Path | None
    campaign_path: Path | None
    check_bundles: Path | None
    write_profiles: bool


@bench.command("runtime")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=BENCH_DIR,
              show_default=True, help="Directory for runtime.json.")
@click.option("--core", "cores", multiple=True, type=click.Choice(CORES),
              help="Cores to measure (repeatable)  [default: all three]")
@click.option("--fit-designs", type=click.IntRange(min=4), default=24, show_default=True,
              help="Generated designs whose profiled kernel calls fit the cost model.")
@click.option("--held-out", type=click.IntRange(min=2), default=20, show_default=True,
              help="Fuzz seeds (each in uint8, mixed and float32) that check the fit.")
@click.option("--winner", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A bundle (e.g. a quickstart winner) for the sparse-update speedup, re-exported as mixed.")
@click.option("--campaign", "campaign_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="The winner's campaign: its training data drive the dynamic update rate.")
@click.option("--check-bundles", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Also check the calibration on every bundle in this directory (e.g. a campaign's exported front).")
@click.option("--write-profiles", is_flag=True, help="Write the calibrated figures into hw_profiles/*.yaml.")
def bench_runtime(**params: Any) -> None:
    """runtime_c under QEMU: instructions per MAC of the forward conv, input
    error and weight gradient (DSP and portable), the sparse-update speedup
    of a winner (lambda_min 0.1 against 1.0), and the calibration of every
    core's kernel costs and runtime footprint, checked on held-out designs
    (MAPE, Spearman, flash and SRAM); writes results/bench/runtime.json."""
    options = RuntimeBenchOptions(**params)
    from explore.bench.runtime import run_runtime_bench

    run_runtime_bench(options.out, options.cores or CORES, options.fit_designs, options.held_out, options.winner,
                      options.campaign_path, options.write_profiles, options.check_bundles)


@dataclass(frozen=True)
class KernelsBenchOptions:
    out: Path
    cores: tuple[str, ...]
    baseline: Path | None
    designs: int


@bench.command("kernels")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=BENCH_DIR,
              show_default=True, help="Directory for kernels.json.")
@click.option("--core", "cores", multiple=True, type=click.Choice(CORES),
              help="Cores to measure (repeatable)  [default: all three]")
@click.option("--baseline", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Another checkout's runtime_c directory, measured in the same run for before/after "
                   "(e.g. a `git worktree` of the commit before a kernel change).")
@click.option("--designs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also train this many generated designs (uint8) end to end on the Cortex-M4 and report the "
                   "median instructions per training sample (with --baseline: before and after).  About 10 s each.")
def bench_kernels(**params: Any) -> None:
    """runtime_c's integer kernels (forward, input error, weight gradient) on
    fixed layer shapes under QEMU: instructions per MAC, whole kernel, with
    padding taps counted as MACs; checks the Cortex-M4 forward figures against
    CMSIS-NN's and each backward kernel against 1.2x its forward; writes
    results/bench/kernels.json.

    \b
    Example: a before/after table for one change
      git worktree add /tmp/before HEAD~1
      explore bench kernels --core cortex-m4 --baseline /tmp/before/runtime_c"""
    options = KernelsBenchOptions(**params)
    from explore.bench.kernels import run_kernels_bench, summary_lines

    result = run_kernels_bench(options.out, options.cores or CORES, options.baseline, progress=click.echo,
                               designs=options.designs)
    for line in summary_lines(result):
        click.echo(line)


@dataclass(frozen=True)
class CostBenchOptions:
    campaign: Path
    out: Path
    board_names: tuple[str, ...]
    seconds: float


@bench.command("cost")
@click.argument("campaign", type=click.Path(path_type=Path), default=QUICKSTART)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=BENCH_DIR, show_default=True, help="Directory for cost.json.")
@click.option("--board", "board_names", multiple=True, metavar="NAME",
              default=("rp2040", "nrf52840", "imxrt1062"), show_default=True,
              help="Boards each genome is costed on; repeat for several.")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="How long to cost random genomes.")
def bench_cost(**params: Any) -> None:
    """Cost random genomes of CAMPAIGN's family (build, prune, plan the
    arena, price on every board) for a while; writes results/bench/cost.json
    with genomes_per_s.  Target: >= 200 genomes/s on three boards, so that
    rejecting infeasible designs costs a search nothing."""
    options = CostBenchOptions(**params)
    from explore.bench.cost import run_cost_bench

    run_cost_bench(options.campaign, out_dir=options.out, board_names=options.board_names, seconds=options.seconds)


@dataclass(frozen=True)
class SearchBenchOptions:
    campaign: Path
    out: Path
    trials: int
    workers: int
    variants: tuple[str, ...]


@bench.command("search")
@click.argument("campaign", type=click.Path(path_type=Path), default=QUICKSTART)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=BENCH_DIR, show_default=True, help="Directory for search.json (runs go in DIR/search/).")
@click.option("--trials", type=click.IntRange(min=1), default=30, show_default=True, help="Trial budget of every variant.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Local workers of every variant.")
@click.option("--variant", "variants", multiple=True, default=("random", "tpe+es", "tpe", "nsga2"), show_default=True,
              help="Samplers to compare: tpe, nsga2, random, tpe+es (tpe with early stopping), dnas "
                   "(gradient search on a supernet), dnas+tpe (its proposals, then tpe).")
def bench_search(**params: Any) -> None:
    """Run CAMPAIGN (default: the quickstart) once per sampler with the same
    seed, trials and workers, and record the hypervolume of the feasible
    front against wall time since each explore run started (a dnas variant
    pays for its supernet and gradient search); writes DIR/search.json.
    Targets: tpe with early stopping reaches random search's final
    hypervolume in at most 50% of random search's wall time; dnas+tpe
    reaches tpe's final hypervolume in at most 1/3 of tpe's wall time."""
    options = SearchBenchOptions(**params)
    from explore.bench.search import run_search_bench, summary_lines

    result = run_search_bench(options.campaign, options.out, options.trials, options.workers, options.variants)
    for line in summary_lines(result, options.out):
        click.echo(line)
