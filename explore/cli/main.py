"""Command-line interface of explore: the ``explore`` group, its commands (one module each in
this folder) and the error convention every command shares.

Each command module parses its options and calls one library function; heavy modules (jax, flax,
optuna, ...) are imported inside the commands so that ``explore --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from explore.cli.bench import bench
from explore.cli.boards import boards
from explore.cli.check import check
from explore.cli.cost import cost
from explore.cli.demo import demo
from explore.cli.evaluate import evaluate
from explore.cli.export import export
from explore.cli.families import families
from explore.cli.init import init
from explore.cli.report import report
from explore.cli.run import run
from explore.cli.status import status
from explore.cli.validate import validate
from explore.cli.worker import worker
from explore.errors import BadInput
from explore.version import __version__

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
      explore init --data FILE          draft a campaign for your own data
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


COMMANDS = (demo, families, init, evaluate, check, boards, cost, run, worker, status, bench, report, export, validate)
for _command in COMMANDS:
    main.add_command(_command)
