"""``explore validate``: a bundle on runtime_c held against the simulator, and the verdict."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

@dataclass(frozen=True)
class ValidateOptions:
    bundle_dir: Path
    target: str
    steps: int
    seed: int
    no_dsp: bool
    as_json: bool


@click.command()
@click.argument("bundle_dir", type=click.Path(path_type=Path))
@click.option("--target", type=click.Choice(["host", "cortex-m0plus", "cortex-m4", "cortex-m7", "all"]),
              default="host", show_default=True,
              help="Where to run runtime_c: the host (gcc, ASan + UBSan) or a Cortex-M core under QEMU.")
@click.option("--steps", type=click.IntRange(min=1), default=50, show_default=True,
              help="Training steps (minibatches of the bundle's batch size) to compare.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated samples.")
@click.option("--no-dsp", "no_dsp", is_flag=True, help="Build the portable kernels only (no SMLAD path).")
@click.option("--json", "as_json", is_flag=True, help="Print validation.json to stdout.")
def validate(**params: Any) -> None:
    """Build runtime_c with a bundle, train it on the target and compare it
    with the simulator step by step: logits before training, every sample's
    loss and kept channels, every trainable array after every update, logits
    after training -- bit for bit.  First the bundle is checked: its
    manifest.json against the schema, and every file it lists against its
    sha256; a broken or edited bundle is refused (exit status 2).

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
    options = ValidateOptions(**params)
    from explore.deploy.integrity import checked_manifest

    checked_manifest(options.bundle_dir)   # a broken or tampered bundle stops here, before JAX loads
    from rich.console import Console

    from explore.deploy.validate import Options
    from explore.deploy.validation import run_validation

    console = Console(stderr=options.as_json)
    summary = run_validation(options.bundle_dir, options.target,
                             Options(steps=options.steps, seed=options.seed, dsp=not options.no_dsp),
                             echo=lambda text: console.print(text, highlight=False))
    if options.as_json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_summary(summary, console)
    if not summary["bit_exact"]:
        raise SystemExit(1)


def print_summary(summary: dict, console: Console) -> None:
    from rich.table import Table

    from explore.deploy.validate import COMPARED_FIGURES

    for name, result in summary["targets"].items():
        if "measured" not in result:
            continue
        table = Table(title=f"{name} ({result['machine']}), predicted by the {result['predicted']['board']} profile")
        for column in ("", "predicted", "measured", "error"):
            table.add_column(column, justify="right" if column else "left")
        for key, label in COMPARED_FIGURES.items():
            error = result["error_pct"].get(key)
            table.add_row(label, f"{result['predicted'][key]:,.0f}", f"{result['measured'][key]:,.0f}",
                          f"{error:+.1f} %" if error is not None else "")
        console.print(table)
    verdict = "bit-exact on every target" if summary["bit_exact"] else "NOT bit-exact"
    console.print(f"{verdict}; wrote {Path(summary['bundle']) / 'validation.json'}")
