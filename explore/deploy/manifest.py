"""A bundle's ``manifest.json`` (format ``explore.bundle/1``): what the design is, how it trains, what it
costs on one board, and the sha256 of every other file of the bundle.

The schema is ``schemas/bundle-1.schema.json``; every bundle carries a copy as ``manifest.schema.json``.
:mod:`explore.deploy.integrity` checks a bundle against its manifest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from explore.campaign.boards import BoardProfile
from explore.campaign import Campaign, Genome
from explore.cost import BoardCost, Design, MemoryPlans
from explore.model.deployable import QuantizedModel
from explore.model.spec import spec_to_dict
from explore.version import __version__

FORMAT = "explore.bundle/1"
SCHEMA_PATH = Path(__file__).parent / "schemas" / "bundle-1.schema.json"


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate_manifest(manifest: dict) -> None:
    """Raise ``jsonschema.ValidationError`` if ``manifest`` does not follow ``bundle-1.schema.json``."""
    import jsonschema

    jsonschema.Draft202012Validator(load_schema()).validate(manifest)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def training_section(campaign: Campaign, design: Design) -> dict:
    """The on-device training configuration, as ``manifest.json`` and ``model.c`` record it."""
    on_device = campaign.on_device
    return {"config": design.config, "trainable": list(design.trainable), "lambda_min": design.lambda_min,
            "lambda_max": design.lambda_max, "lr": on_device.lr, "batch_size": on_device.batch_size,
            "epochs": on_device.epochs, "update_rates": {str(i): design.rate(i) for i in design.trainable}}


def bundle_manifest(campaign: Campaign, trial_number: int, genome: Genome, metrics: dict, model: QuantizedModel,
                    board: BoardProfile, design: Design, plans: MemoryPlans, cost: BoardCost) -> dict[str, Any]:
    """The manifest of a bundle, with an empty file list (:func:`with_files` fills it in)."""
    return {
        "format": FORMAT,
        "explore_version": __version__,
        "campaign": {"name": campaign.name, "family": campaign.model.family, "dataset": campaign.dataset.name,
                     "boards": list(campaign.boards)},
        "trial": int(trial_number),
        "board": {"name": board.name, "core": board.core, "clock_mhz": float(board.clock_mhz)},
        "budgets": {name: {"limit": b.limit, "value": b.value} for name, b in cost.budgets.items()},
        "feasible": cost.feasible,
        "genome": genome.to_dict(),
        "training": training_section(campaign, design),
        "model": {"input_shape": list(model.spec.input_shape), "num_classes": model.spec.num_classes,
                  "float_from": model.spec.float_from(design.config),
                  "layers": spec_to_dict(model.spec)["layers"]},
        "metrics": {"accuracy": metrics.get("accuracy", {}),
                    "validation_accuracy": metrics.get("validation_accuracy", {}), "cost": cost.to_dict()},
        "memory": {"arena_bytes": plans.training.size, "inference_arena_bytes": plans.inference.size,
                   "trainable_state_bytes": plans.trainable["total"], "flash_bytes": cost.flash_bytes.total,
                   "sram_bytes": cost.sram_bytes.total},
        "files": [],
    }


def with_files(manifest: dict, files: dict[str, bytes]) -> dict:
    """``manifest`` listing the size and sha256 of ``files``, in plain JSON types, checked against the
    schema."""
    listed = {**manifest, "files": [{"path": name, "bytes": len(data), "sha256": sha256(data)}
                                    for name, data in files.items()]}
    listed = json.loads(json.dumps(listed))
    validate_manifest(listed)
    return listed


def manifest_bytes(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
