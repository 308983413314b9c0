"""Command-line interface of explore.

Heavy modules (jax, flax, ...) are imported inside the commands so that
``explore --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from explore.version import __version__
from explore.errors import BadInput

PROG = "explore"
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

# click >= 8.2 raises this for a bare group invocation; click 8.1 prints the help itself.
_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    filter(None, [getattr(click.exceptions, "NoArgsIsHelpError", None)])
)


def _fail(message: str, code: int) -> NoReturn:
    # Project rule: bad input is one line on stderr, never a usage block or a traceback.
    line = "; ".join(part.strip() for part in message.splitlines() if part.strip())
    click.echo(f"{PROG}: error: {line}", err=True)
    sys.exit(code)


class ExploreGroup(click.Group):
    """Top-level group that applies the CLI's error convention in one place."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:  # embedding callers handle exceptions themselves
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except _NO_ARGS_IS_HELP as e:
            # A bare `explore` asks for orientation, it is not bad input.
            click.echo(e.ctx.get_help())  # type: ignore[attr-defined]
            sys.exit(0)
        except click.UsageError as e:
            _fail(e.format_message(), EXIT_BAD_INPUT)
        except click.ClickException as e:
            _fail(e.format_message(), e.exit_code)
        except BadInput as e:
            # The library reports bad arguments as BadInput naming the argument; anything
            # else is a bug and keeps its traceback.
            _fail(str(e) or type(e).__name__, EXIT_BAD_INPUT)
        except (click.Abort, KeyboardInterrupt):
            click.echo(f"{PROG}: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        # Non-standalone click returns the exit code of --help/--version/ctx.exit(n).
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=ExploreGroup, name=PROG)
@click.version_option(__version__, prog_name=PROG)
def main() -> None:
    """Design small neural networks that microcontrollers can train on-device.

    explore builds Flax models and simulates their fully quantized training
    (FQT) in integer arithmetic, bit-for-bit as a Cortex-M runtime would run
    it, so that candidate designs can be searched under each board's SRAM,
    flash and latency budget.

    \b
    Typical flow:
      explore demo                      pre-train, quantize, then retrain a small
                                        CNN on-device (simulated) on 8x8 digits
      explore families                  model families and their genome keys
      explore evaluate CAMPAIGN.yaml    one design point end to end: float
                                        training with AGP pruning, PTQ, reset,
                                        simulated on-device retraining
      explore check CAMPAIGN.yaml       validate a campaign; show it resolved
                                        and the size of its search space
      explore boards                    the board profiles (hw_profiles/*.yaml)
      explore cost CAMPAIGN.yaml        SRAM, flash, latency and energy of a
                                        design per board, before training
      explore run CAMPAIGN.yaml         search: a multi-objective Optuna study
                                        under every board's budgets
      explore worker CAMPAIGN.yaml      join a running study from any machine
      explore status CAMPAIGN.yaml      trial counts and the Pareto front
      explore bench fqt|evaluate|cost|search|runtime
                                        measure speed; JSON under results/bench
      explore report CAMPAIGN.yaml      the Pareto report (HTML, CSV, markdown)
      explore export CAMPAIGN.yaml      firmware bundles (C sources, manifest)
                                        of chosen designs
      explore validate BUNDLE_DIR       train a bundle with runtime_c on the host
                                        or Cortex-M (QEMU), bit for bit against
                                        the simulator; measured vs predicted

    Bad input exits with status 2 and one line on stderr.
    """


@main.command()
@click.option("--config", type=click.Choice(["uint8", "mixed", "float32"]), default="uint8",
              show_default=True, help="Numeric configuration of on-device training.")
@click.option("--epochs", type=click.IntRange(min=1), default=8, show_default=True,
              help="On-device training epochs.")
@click.option("--lambda-min", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help=("Dynamic sparse updates: fraction of output channels each layer\n"
                    "updates once the loss is near 0 (1.0 = dense)."))
@click.option("--lambda-max", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help=("Fraction of output channels updated at the largest loss seen\n"
                    "so far; must be >= --lambda-min."))
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.01,
              show_default=True, help="On-device learning rate.")
@click.option("--batch-size", type=click.IntRange(min=1), default=48, show_default=True,
              help="On-device batch size.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def demo(config: str, epochs: int, lambda_min: float, lambda_max: float, lr: float,
         batch_size: int, seed: int, as_json: bool) -> None:
    """Short on-device training demo: pre-train the paper's small CNN (2 conv,
    max-pool, 2 dense) in float on scikit-learn's 8x8 digits, quantize it to
    uint8, reset the classifier and retrain all layers with the bit-exact FQT
    simulator."""
    if lambda_min > lambda_max:
        raise click.BadParameter(
            f"{lambda_min} is greater than --lambda-max {lambda_max}; "
            "need --lambda-min <= --lambda-max.",
            param_hint="'--lambda-min'",
        )
    from explore.train.demo import run_demo

    run_demo(config=config, epochs=epochs, lambda_min=lambda_min, lambda_max=lambda_max,
             lr=lr, batch_size=batch_size, seed=seed, as_json=as_json)


@main.command()
@click.argument("campaign", type=click.Path(path_type=Path))
@click.option("--genome", type=click.Path(path_type=Path), default=None,
              help="JSON object of genome keys (default: the campaign's baseline). Missing\n"
                   "architecture keys take the family's defaults; missing pipeline keys\n"
                   "(sparsity, trainable_last, lambda_min, lambda_max, config) the campaign's.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory  [default: results/<campaign name>/evaluate]")
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json to stdout (progress goes to stderr).")
def evaluate(campaign: Path, genome: Path | None, out: Path | None, as_json: bool) -> None:
    """Evaluate one design point of CAMPAIGN end to end.

    \b
    Stages (design.md, "Data flow of one trial"):
      1. build the network from the genome
      2. float pre-training (source task first, with dataset.transfer),
         with automated gradual pruning (AGP) to the genome's sparsity
      3. post-training quantization to uint8, calibrated on training data
      4. reset of the trainable layers
      5. simulated on-device FQT retraining (bit-exact integer arithmetic)

    Writes DIR/metrics.json (accuracy.float32/ptq/on_device on the test
    split, update rates, sparsity, parameters, seconds per stage) and
    DIR/model.npz (the trained quantized model, format in explore/artifacts.py).

    \b
    Example:
      explore evaluate search_spaces/quickstart.yaml
      explore evaluate search_spaces/quickstart.yaml --genome g.json --out /tmp/g
    """
    from explore.cli.evaluate import run_evaluate

    run_evaluate(campaign, genome, out, as_json)


@main.command()
@click.argument("campaign", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the resolved campaign and the space as JSON.")
def check(campaign: Path, as_json: bool) -> None:
    """Validate CAMPAIGN, print it with every default filled in, and the size
    of its search space.  Exit status 0 if it is valid, 2 (one line naming
    file:line and the key) if not.

    \b
    Example:
      explore check search_spaces/quickstart.yaml
    """
    from explore.cli.check import run_check

    run_check(campaign, as_json)


@main.command()
@click.argument("campaign", type=click.Path(path_type=Path))
@click.option("--genome", type=click.Path(path_type=Path), default=None,
              help="JSON object of genome keys (default: the campaign's baseline).")
@click.option("--board", "board_names", multiple=True, metavar="NAME",
              help="Board profile name or YAML file; repeat for several.  Default: the\n"
                   "campaign's boards, or every profile when it names none.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"genome", "design", "boards": {NAME: {...}}} instead of tables.')
def cost(campaign: Path, genome: Path | None, board_names: tuple[str, ...], as_json: bool) -> None:
    """Cost one design of CAMPAIGN on each board, without training it.

    \b
    For each board:
      training SRAM = arena + trainable state + runtime statics, against
                      the board's budget (SRAM less the application's reserve)
        arena       every tensor of one training sample over forward ->
                    loss -> backward, placed by a greedy planner
        trainable   weights, gradient buffers and statistics of the
                    layers trained on-device
      flash         frozen weights, initial values of the trainable
                    layers, tables, runtime code
      latency       per training sample: forward + backward (scaled by
                    the sparse-update rate) + update / batch size;
                    per inference: forward
      energy        latency x (active - idle current) x supply voltage
    Infeasible designs list each budget they exceed and by how much.
    Costs rest on the board profiles' figures (hw_profiles/*.yaml);
    those still assumed rather than calibrated are marked *.

    \b
    Example:
      explore cost search_spaces/quickstart.yaml --board rp2040 --board nrf52840
      explore cost search_spaces/quickstart.yaml --genome g.json --json
    """
    from explore.cli.cost import run_cost

    run_cost(campaign, genome, board_names, as_json)


@main.command()
@click.argument("family", required=False)
def families(family: str | None) -> None:
    """List the model families, or the genome keys of FAMILY with their ranges."""
    from explore.model.families import FAMILIES, get_family
    from explore.campaign import PIPELINE_KEYS

    if family is None:
        for fam in FAMILIES.values():
            click.echo(f"{fam.name:<10} {fam.summary}")
        click.echo("\nexplore families NAME lists a family's genome keys.")
        return
    fam = get_family(family, where="FAMILY")
    for title, keys in ((f"{fam.name} architecture keys", fam.keys), ("pipeline keys (every family)", PIPELINE_KEYS)):
        click.echo(f"{title}:")
        for name, key in keys.items():
            click.echo(f"  {name:<15} {key.describe():<32} default {key.default!r:<8} {key.help}")


@main.command()
@click.option("--json", "as_json", is_flag=True,
              help="Print {\"boards\": {name: full profile}} as JSON, with sram_budget,\n"
                   "flash_budget and the profile's path.")
def boards(as_json: bool) -> None:
    """List the board profiles a campaign's `boards:` can name.

    For each board: core, clock, SRAM and flash (total / budget, i.e.
    what is left after the application's reserve or the profile's
    budgets), internal or external flash, FPU/DSP, the QEMU machine that
    stands in for it, and the profile file.  KB = 1024 bytes.

    \b
    Boards are read from each directory in $EXPLORE_HW_PROFILES
    (separated by ':'), then from the repository's hw_profiles/; the
    first directory wins when two define the same board.

    \b
    To add a board, write one YAML file NAME.yaml (NAME = the board's
    `name:`) into hw_profiles/ or into a directory named by
    EXPLORE_HW_PROFILES, e.g. by copying hw_profiles/nrf52840.yaml.
    Every key, its unit and allowed values: hw_profiles/README.md.
    A profile that does not validate makes this command fail (exit 2).
    """
    import json

    from explore.campaign.boards import list_boards

    profiles = list_boards()
    if as_json:
        click.echo(json.dumps({"boards": {p.name: p.as_dict() for p in profiles}}, indent=2))
        return

    def size(n: int) -> str:
        if n >= 1 << 20:
            return f"{n / (1 << 20):g} MB"
        return f"{n / 1024:g} KB"

    def shown_path(path: Path) -> str:
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    header = ("board", "core", "clock", "SRAM total / budget", "flash total / budget", "FPU", "DSP", "QEMU", "file")
    rows = [header] + [
        (p.name, p.core, f"{p.clock_mhz:g} MHz",
         f"{size(p.sram.bytes)} / {size(p.sram_budget)}",
         f"{size(p.flash.bytes)} {'ext' if p.flash.external else 'int'} / {size(p.flash_budget)}",
         "yes" if p.fpu else "no", "yes" if p.dsp else "no", p.validation.qemu_machine, shown_path(p.path))
        for p in profiles
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    if not profiles:
        click.echo("no board profiles found; see hw_profiles/README.md")


_STORAGE_HELP = ("Optuna storage: postgresql://user@host/db (many machines), sqlite:///file.db,\n"
                 "or a journal file path.  Default: the campaign's search.storage, else the\n"
                 "journal file results/<campaign>/study.journal.")
_RESULTS_HELP = "Root of results/<campaign>/ (journal, trial artefacts, worker logs)."
_HEARTBEAT_HELP = ("RDB storage: seconds between a running trial's heartbeats; a trial silent for\n"
                   "three of them is failed and queued again.")


@main.command()
@click.argument("campaign", type=click.Path(path_type=Path))
@click.option("--trials", type=int, default=None, help="Finished trials the study should hold [default: search.trials].")
@click.option("--workers", type=int, default=1, show_default=True, help="Local worker processes.")
@click.option("--storage", default=None, help=_STORAGE_HELP)
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help=_RESULTS_HELP)
@click.option("--heartbeat", type=click.FloatRange(min=1), default=30.0, show_default=True, help=_HEARTBEAT_HELP)
@click.option("--report", "with_report", is_flag=True, help="Then write the report (explore report).")
@click.option("--export", "export_dir", type=click.Path(path_type=Path), default=None,
              help="Then export the Pareto front's firmware bundles into this directory (explore export --pareto).")
def run(campaign: Path, trials: int | None, workers: int, storage: str | None, results: Path,
        heartbeat: float, with_report: bool, export_dir: Path | None) -> None:
    """Search CAMPAIGN's space: a multi-objective Optuna study.

    \b
    Each trial:
      1. samples a genome (architecture, AGP sparsity, trainable layers,
         lambda_min/lambda_max, numeric configuration) from search.space
      2. costs it on every board before training (explore cost)
      3. if it breaks a budget: records it as infeasible (Optuna
         constraints) and trains nothing
      4. else runs the pipeline of explore evaluate into
         results/<campaign>/trials/<n>/, stopping on-device training early
         when its accuracy can no longer reach the Pareto front
         (search.early_stopping; rule in explore/early_stop.py)
      5. stores the objective values, metrics, costs and artefact paths

    Re-running continues the study to --trials finished trials: finished
    trials are kept, and trials of killed workers are failed and run again.
    Exit status 1 if the workers stopped before that.

    \b
    Example:
      explore run search_spaces/quickstart.yaml --workers 2
      explore run search_spaces/quickstart.yaml --report --export results/quickstart/bundles
      explore run big.yaml --storage postgresql://explore@db/explore --workers 2
    """
    from explore.cli.run import run_campaign

    run_campaign(campaign, trials, workers, storage, results, heartbeat, with_report, export_dir)


@main.command()
@click.argument("campaign", type=click.Path(path_type=Path))
@click.option("--storage", default=None, help=_STORAGE_HELP)
@click.option("--trials", type=int, default=None, help="Finished trials the study should hold [default: search.trials].")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help=_RESULTS_HELP)
@click.option("--seed-offset", type=int, default=None,
              help="Sampler seed = campaign seed + this  [default: the process id].")
@click.option("--heartbeat", type=click.FloatRange(min=1), default=30.0, show_default=True, help=_HEARTBEAT_HELP)
@click.option("--quiet", is_flag=True, help="Print nothing per trial.")
def worker(campaign: Path, storage: str | None, trials: int | None, results: Path, seed_offset: int | None,
           heartbeat: float, quiet: bool) -> None:
    """Join CAMPAIGN's study as one worker, on this or any machine.

    Runs trials until the study holds --trials finished ones, then exits.
    Start as many as you like, on as many machines as reach the storage;
    the count stays exact and a killed worker's trial is run again.

    \b
    Example (on each machine):
      explore worker campaign.yaml --storage postgresql://explore@db/explore
    """
    from explore.cli.run import run_worker

    run_worker(campaign, storage, trials, results, seed_offset, heartbeat, quiet)


@main.command()
@click.argument("campaign", type=click.Path(path_type=Path))
@click.option("--storage", default=None, help=_STORAGE_HELP)
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help=_RESULTS_HELP)
@click.option("--json", "as_json", is_flag=True,
              help='Print {"trials": {complete, infeasible, pruned, failed, running, ...}, "front": [...]}.')
def status(campaign: Path, storage: str | None, results: Path, as_json: bool) -> None:
    """Trial counts of CAMPAIGN's study by state, and its Pareto front
    (feasible completed trials that no other one dominates).

    \b
    Example:
      explore status search_spaces/quickstart.yaml --json
    """
    from explore.cli.run import run_status

    run_status(campaign, storage, results, as_json)


@main.command()
@click.argument("campaign", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Directory for index.html, pareto.csv and summary.md  [default: results/<campaign>/report]")
@click.option("--storage", default=None, help=_STORAGE_HELP)
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help=_RESULTS_HELP)
def report(campaign: Path, out: Path | None, storage: str | None, results: Path) -> None:
    """Write the Pareto report of CAMPAIGN's study.

    \b
    index.html (self-contained; open it in any browser):
      - per board: accuracy against training SRAM, latency per training
        sample and flash; trained, stopped-early and infeasible designs
        apart; budgets as red dashed lines; the front circled
      - hypervolume over trials; parameter importance for accuracy
      - the front as a table; its memory by segment (arena / trainable
        state / statics, and flash) and its latency split into forward,
        backward and update; its training curves
    pareto.csv and summary.md: the front table, for terminals and CI.

    \b
    Example:
      explore report search_spaces/quickstart.yaml
    """
    from explore.cli.report import run_report

    run_report(campaign, out, storage, results)


@main.command()
@click.argument("campaign", type=click.Path(path_type=Path))
@click.option("--trial", type=int, default=None, help="Export this trial number.")
@click.option("--pareto", is_flag=True, help="Export every design on the Pareto front.")
@click.option("--board", default=None,
              help="One of the campaign's boards: costs, budgets and arena plan are for it  [default: its first]")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Directory for the bundles; each goes to OUT/<trial>/.")
@click.option("--storage", default=None, help=_STORAGE_HELP)
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help=_RESULTS_HELP)
def export(campaign: Path, trial: int | None, pareto: bool, board: str | None, out: Path, storage: str | None,
           results: Path) -> None:
    """Write firmware bundles of CAMPAIGN's trials for runtime_c: C99 sources
    (model.h, model.c), manifest.json (schema explore.bundle/1) and a README
    for firmware engineers, one directory per trial.

    \b
    model.c holds frozen weights as const arrays (flash), trainable weights
    in RAM, every quantization and requantization parameter, the layer
    table, the arena plan of the cost model and the training configuration
    (trainable layers, lambda_min/lambda_max, lr, batch size).

    \b
    Example:
      explore export search_spaces/quickstart.yaml --pareto --out bundles
      explore export search_spaces/quickstart.yaml --trial 12 --board nrf52840 --out bundles
    """
    from explore.cli.export import run_export

    run_export(campaign, trial, pareto, board, out, storage, results)


@main.command()
@click.argument("bundle_dir", type=click.Path(path_type=Path))
@click.option("--target", type=click.Choice(["host", "cortex-m0plus", "cortex-m4", "cortex-m7", "all"]),
              default="host", show_default=True,
              help="Where to run runtime_c: the host (gcc, ASan + UBSan) or a Cortex-M core under QEMU.")
@click.option("--steps", type=click.IntRange(min=1), default=50, show_default=True,
              help="Training steps (minibatches of the bundle's batch size) to compare.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated samples.")
@click.option("--no-dsp", "no_dsp", is_flag=True, help="Build the portable kernels only (no SMLAD path).")
@click.option("--json", "as_json", is_flag=True, help="Print validation.json to stdout.")
def validate(bundle_dir: Path, target: str, steps: int, seed: int, no_dsp: bool, as_json: bool) -> None:
    """Build runtime_c with a bundle, train it on the target and compare it
    with the simulator step by step: logits before training, every sample's
    loss and kept channels, every trainable array after every update, logits
    after training -- bit for bit.

    \b
    On a Cortex-M target it also measures flash (.text + .rodata + .data),
    SRAM (.data + .bss + stack high-water mark) and instructions per
    training sample (SysTick under QEMU -icount), and prints them against
    the cost model's prediction.  Writes BUNDLE_DIR/validation.json; exits
    with status 1 if any target is not bit-exact.

    \b
    Example:
      explore validate results/quickstart/bundles/12 --target all
      explore validate bundles/12 --target cortex-m4 --steps 100 --json
    """
    from explore.cli.validate import validate_command

    validate_command(bundle_dir, target, steps, as_json, seed, not no_dsp)


@main.group()
def bench() -> None:
    """Benchmarks of explore's components."""


@bench.command("fqt")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/bench"), show_default=True,
              help="Directory for fqt.json.")
@click.option("--batch-size", type=click.IntRange(min=1), default=48, show_default=True,
              help="Batch size of the measured training steps.")
@click.option("--steps", type=click.IntRange(min=1), default=30, show_default=True,
              help="Timed training steps per configuration.")
def bench_fqt(out: Path, batch_size: int, steps: int) -> None:
    """Measure FQT simulator throughput (float32 vs uint8 on the same network
    and batch) and compile time; writes results/bench/fqt.json."""
    from explore.bench.simulator import run_fqt_bench

    run_fqt_bench(out_dir=out, batch_size=batch_size, steps=steps)


@bench.command("evaluate")
@click.argument("campaign", type=click.Path(path_type=Path), default=Path("search_spaces/quickstart.yaml"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/bench"), show_default=True, help="Directory for evaluate.json.")
@click.option("--sparsities", default="0,0.25,0.5,0.75", show_default=True,
              help="Comma-separated AGP final sparsities for the accuracy-vs-sparsity sweep ('' to skip).")
def bench_evaluate(campaign: Path, out: Path, sparsities: str) -> None:
    """Time one evaluate of CAMPAIGN's baseline (default: the quickstart) by
    stage, then sweep the AGP final sparsity and record accuracy against it;
    writes results/bench/evaluate.json."""
    from explore.bench.simulator import run_evaluate_bench

    try:
        levels = [float(s) for s in sparsities.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter(f"{sparsities!r} must be comma-separated numbers", param_hint="'--sparsities'")
    run_evaluate_bench(campaign, out_dir=out, sparsities=levels)


@bench.command("runtime")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results/bench"),
              show_default=True, help="Directory for runtime.json.")
@click.option("--core", "cores", multiple=True, type=click.Choice(["cortex-m0plus", "cortex-m4", "cortex-m7"]),
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
def bench_runtime(out: Path, cores: tuple[str, ...], fit_designs: int, held_out: int, winner: Path | None,
                  campaign_path: Path | None, check_bundles: Path | None, write_profiles: bool) -> None:
    """runtime_c under QEMU: instructions per MAC of the forward conv, input
    error and weight gradient (DSP and portable), the sparse-update speedup
    of a winner (lambda_min 0.1 against 1.0), and the calibration of every
    core's kernel costs and runtime footprint, checked on held-out designs
    (MAPE, Spearman, flash and SRAM); writes results/bench/runtime.json."""
    from explore.bench.runtime import run_runtime_bench
    from explore.deploy.qemu import require_tools

    require_tools()
    samples = None
    if campaign_path is not None:
        from explore.campaign import load_campaign
        from explore.data import load_dataset

        campaign = load_campaign(campaign_path)
        data = load_dataset(campaign.dataset, campaign.base_dir, campaign.seed)
        samples = (data.x_train[:256], data.y_train[:256])
    run_runtime_bench(out, cores or ("cortex-m0plus", "cortex-m4", "cortex-m7"), fit_designs, held_out, winner,
                      samples, write_profiles, check_bundles)


@bench.command("cost")
@click.argument("campaign", type=click.Path(path_type=Path), default=Path("search_spaces/quickstart.yaml"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/bench"), show_default=True, help="Directory for cost.json.")
@click.option("--board", "board_names", multiple=True, metavar="NAME",
              default=("rp2040", "nrf52840", "imxrt1062"), show_default=True,
              help="Boards each genome is costed on; repeat for several.")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="How long to cost random genomes.")
def bench_cost(campaign: Path, out: Path, board_names: tuple[str, ...], seconds: float) -> None:
    """Cost random genomes of CAMPAIGN's family (build, prune, plan the
    arena, price on every board) for a while; writes results/bench/cost.json
    with genomes_per_s.  Target: >= 200 genomes/s on three boards, so that
    rejecting infeasible designs costs a search nothing."""
    from explore.bench.simulator import run_cost_bench

    run_cost_bench(campaign, out_dir=out, board_names=board_names, seconds=seconds)


@bench.command("search")
@click.argument("campaign", type=click.Path(path_type=Path), default=Path("search_spaces/quickstart.yaml"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results/bench"), show_default=True, help="Directory for search.json (runs go in DIR/search/).")
@click.option("--trials", type=click.IntRange(min=1), default=30, show_default=True, help="Trial budget of every variant.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Local workers of every variant.")
@click.option("--variant", "variants", multiple=True, default=("random", "tpe+es", "tpe", "nsga2"), show_default=True,
              help="Samplers to compare: tpe, nsga2, random, tpe+es (tpe with early stopping), dnas "
                   "(gradient search on a supernet), dnas+tpe (its proposals, then tpe).")
def bench_search(campaign: Path, out: Path, trials: int, workers: int, variants: tuple[str, ...]) -> None:
    """Run CAMPAIGN (default: the quickstart) once per sampler with the same
    seed, trials and workers, and record the hypervolume of the feasible
    front against wall time since each explore run started (a dnas variant
    pays for its supernet and gradient search); writes DIR/search.json.
    Targets: tpe with early stopping reaches random search's final
    hypervolume in at most 50% of random search's wall time; dnas+tpe
    reaches tpe's final hypervolume in at most 1/3 of tpe's wall time."""
    from explore.bench.search import run_search_bench

    result = run_search_bench(campaign, out, trials, workers, variants)
    for name, v in result["variants"].items():
        click.echo(f"{name:8s} hypervolume {v['final_hypervolume']:.6g} in {v['wall_seconds']:.0f} s "
                   f"(complete {v['complete']}, infeasible {v['infeasible']}, stopped early {v['stopped_early']}, "
                   f"failed {v['failed']})")
    target = result.get("target")
    if target:
        shown = "never" if target["fraction_of_random"] is None else f"{target['fraction_of_random']:.0%} of it"
        click.echo(f"tpe+es reached random's final hypervolume in {shown} ({'met' if target['met'] else 'MISSED'}; "
                   f"target <= 50%)")
    dnas = result.get("dnas_target")
    if dnas:
        shown = "never" if dnas["fraction"] is None else f"{dnas['fraction']:.0%} of it"
        click.echo(f"dnas+tpe reached tpe's final hypervolume in {shown} ({'met' if dnas['met'] else 'MISSED'}; "
                   f"target <= 33%)")
    click.echo(f"wrote {out / 'search.json'}")
