"""Firmware bundles (format ``explore.bundle/1``): one trained design as C99 sources for runtime_c.

:func:`export_bundle` writes ``<out_dir>/<trial>/``:

- ``model.h`` / ``model.c``: the network for the C runtime (:mod:`explore.deploy.c_writer`), and
  ``explore_bundle.h``, the C types they use: a copy of runtime_c's ``include/explore_bundle.h``.
- ``manifest.json`` (:mod:`explore.deploy.manifest`; schema ``schemas/bundle-1.schema.json``, also copied
  into the bundle as ``manifest.schema.json``): format and explore version, campaign, trial, board and
  budgets, genome, training configuration, metrics and costs on the board, and the sha256 of every
  other file.
- ``README.md`` for firmware engineers (:mod:`explore.deploy.readme`).
- what makes it build on its own (:mod:`explore.deploy.standalone`): ``CMakeLists.txt`` (the library
  target ``explore_model``), ``example/main.c`` and a copy of the runtime's sources under ``runtime/``.

:func:`explore.deploy.c_reader.load_bundle` reads the model back *from the C sources*, so a round
trip through it checks the data firmware receives.
"""

from __future__ import annotations

from pathlib import Path

from explore.campaign.boards import BoardProfile
from explore.campaign import Campaign, Genome
from explore.cost import Design, cost_on_board, plan_design
from explore.deploy.c_writer import bundle_header, c_sources
from explore.deploy.manifest import SCHEMA_PATH, bundle_manifest, manifest_bytes, with_files
from explore.deploy.readme import bundle_readme
from explore.deploy.runtime import BUNDLE_HEADER
from explore.deploy.standalone import build_files
from explore.io import write_directory_atomic
from explore.model.deployable import QuantizedModel


def bundle_design(genome: Genome, batch_size: int, metrics: dict, model: QuantizedModel) -> Design:
    """The design that was trained: the model's own (pruned) spec, the trainable set and configuration
    the training run recorded, and its measured update rates."""
    trainable = tuple(int(i) for i in metrics.get("trainable") or genome.trainable_layers(model.spec))
    rates = {int(k): float(v) for k, v in (metrics.get("update_rate") or {}).items()} or None
    return Design(model.spec, trainable, metrics.get("config", genome.config), genome.lambda_min, genome.lambda_max,
                  batch_size, rates)


def export_bundle(campaign: Campaign, trial_number: int, genome: Genome, metrics: dict, model: QuantizedModel,
                  board: BoardProfile, out_dir: Path) -> Path:
    """Write the bundle of one trained design to ``out_dir/<trial_number>/`` and return that path.

    The bundle is built in a temporary directory next to the target and renamed into place, so a
    failure leaves no half-written bundle; an existing bundle of the same trial is replaced."""
    design = bundle_design(genome, campaign.on_device.batch_size, metrics, model)
    plans = plan_design(design)
    cost = cost_on_board(design, board, plans)
    manifest = bundle_manifest(campaign, trial_number, genome, metrics, model, board, design, plans, cost)
    arena = {"training": plans.training.to_dict(), "inference": plans.inference.to_dict()}
    title = f"explore bundle: campaign {campaign.name}, trial {trial_number}, board {board.name}"
    header, source = c_sources(model, design, manifest["training"], arena, title)
    files = {"model.h": header.encode(), BUNDLE_HEADER.name: bundle_header(), "model.c": source.encode(),
             **build_files(title), "README.md": bundle_readme(manifest, design, cost).encode(),
             "manifest.schema.json": SCHEMA_PATH.read_bytes()}
    files["manifest.json"] = manifest_bytes(with_files(manifest, files))
    return write_directory_atomic(Path(out_dir) / str(trial_number), files)
