"""explore: find small neural networks that microcontrollers can train on-device.

The public API, one name per idea; each lives in the stage folder that owns it::

    import explore
    campaign = explore.load_campaign("search_spaces/quickstart.yaml")
    genome = explore.resolve_genome(campaign, campaign.baseline, "baseline")

Names load on first use, so ``import explore.campaign`` (or ``explore.cost``) stays free of JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

from explore.version import __version__

#: public name -> the package that exports it
_EXPORTS = {
    "BadInput": "explore.errors",
    **dict.fromkeys(("ModelSpec", "Conv", "Dense", "MaxPool", "AvgPool", "GlobalAvgPool", "Flatten", "Add",
                     "paper_cnn", "build_model", "FAMILIES", "FloatModel", "QuantizedModel", "load_quantized",
                     "save_quantized"), "explore.model"),
    **dict.fromkeys(("Dataset", "DatasetConfig", "load_dataset", "load_digits_split"), "explore.data"),
    **dict.fromkeys(("Campaign", "Genome", "BoardProfile", "load_campaign", "load_genome", "resolve_genome",
                     "find_board", "list_boards", "campaign_board"), "explore.campaign"),
    **dict.fromkeys(("Design", "design_from_genome", "cost_design", "cost_on_board", "plan_design"), "explore.cost"),
    **dict.fromkeys(("TrainResult", "train_on_device", "evaluate"), "explore.fqt"),
    **dict.fromkeys(("pretrain_float", "quantize_model", "requantize_layers", "reinit_layers", "evaluate_design"),
                    "explore.train"),
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'explore' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
