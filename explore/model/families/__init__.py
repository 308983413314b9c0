"""Model families: a genome dict -> a :class:`~explore.model.spec.ModelSpec`.

Every family works on 1-D inputs ``(time, channels)`` and on 2-D inputs ``(height, width, channels)``:
kernels get one size per spatial axis, and down-sampling steps that would shrink an axis below one
element are skipped, so every genome inside the declared ranges builds a valid network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from explore.errors import BadInput
from explore.model.families import cnn, dscnn, mbednet
from explore.model.families.keys import Key, check_genome
from explore.model.spec import ModelSpec


@dataclass(frozen=True)
class Family:
    name: str
    summary: str
    keys: Mapping[str, Key]
    builder: Callable[[dict, tuple[int, ...], int], ModelSpec]


FAMILIES: dict[str, Family] = {
    module.NAME: Family(module.NAME, module.SUMMARY, module.KEYS, module.build)
    for module in (mbednet, cnn, dscnn)
}


#: families with a weight-sharing supernet (explore/train/supernet.py), which the dnas samplers need, and
#: per layer kind how many of the last layers have slots of their own: a classifier (or MbedNet's head
#: conv) is a different role from the body layer a deeper network has at its position
SUPERNET_TAILS: dict[str, dict[str, int]] = {"cnn": {"dense": 1}, "mbednet": {"conv": 1, "dense": 1}}
SUPERNET_FAMILIES = tuple(SUPERNET_TAILS)


def get_family(name: str, where: str = "model.family") -> Family:
    if name not in FAMILIES:
        raise BadInput(f"{where}: unknown model family {name!r}; allowed: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def build_model(family: str, genome: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int,
                where: str = "genome") -> ModelSpec:
    """Validate ``genome`` against the family's keys (defaults fill gaps) and build the network."""
    fam = get_family(family)
    return fam.builder(check_genome(fam.keys, genome, where), tuple(input_shape), num_classes)


__all__ = ["FAMILIES", "SUPERNET_FAMILIES", "SUPERNET_TAILS", "Family", "Key", "build_model", "check_genome", "get_family"]
