"""The edge: campaign YAML and board profiles in, typed frozen objects out (no JAX here).

``load_campaign(path)`` gives a :class:`Campaign`; ``resolve_genome(campaign, choices, where)`` a
:class:`Genome`; ``find_board(name)`` a :class:`BoardProfile`.  Bad input is one
:class:`~explore.errors.BadInput` line naming the file, the line and the key.
"""

from explore.campaign.boards import BoardProfile, Budgets, find_board, list_boards, load_profile
from explore.campaign.genome import PIPELINE_KEYS, Genome, genome_keys, load_genome, resolve_genome
from explore.campaign.load import campaign_board, load_campaign, location, with_budgets
from explore.campaign.preflight import Preflight, campaign_data, preflight, training_steps
from explore.campaign.schema import (Campaign, ModelConfig, OnDeviceConfig, PretrainConfig, PruningConfig,
                                     QuantizationConfig, resolved_dict)
from explore.campaign.space import SearchConfig

__all__ = [
    "PIPELINE_KEYS", "BoardProfile", "Budgets", "Campaign", "Genome", "ModelConfig", "OnDeviceConfig",
    "Preflight", "PretrainConfig", "PruningConfig", "QuantizationConfig", "SearchConfig", "campaign_board", "find_board",
    "genome_keys", "list_boards", "load_campaign", "load_genome", "load_profile", "location", "resolve_genome",
    "campaign_data", "preflight", "resolved_dict", "training_steps", "with_budgets",
]
