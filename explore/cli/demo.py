"""``explore demo``: the README's first command."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import click


@dataclass(frozen=True)
class DemoOptions:
    config: str
    epochs: int
    lambda_min: float
    lambda_max: float
    lr: float
    batch_size: int
    seed: int
    as_json: bool


@click.command()
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
def demo(**params: Any) -> None:
    """Short on-device training demo: pre-train the paper's small CNN (2 conv,
    max-pool, 2 dense) in float on scikit-learn's 8x8 digits, quantize it to
    uint8, reset the classifier and retrain all layers with the bit-exact FQT
    simulator."""
    options = DemoOptions(**params)
    if options.lambda_min > options.lambda_max:
        raise click.BadParameter(
            f"{options.lambda_min} is greater than --lambda-max {options.lambda_max}; "
            "need --lambda-min <= --lambda-max.",
            param_hint="'--lambda-min'",
        )
    from explore.train.demo import run_demo

    run_demo(**asdict(options))
