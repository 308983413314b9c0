"""What a design costs on a board before it trains (no JAX).

- :mod:`~explore.cost.design`: the design point (network after pruning, trainable set, config, λ).
- :mod:`~explore.cost.work`: the work of every runtime kernel call of one training sample.
- :mod:`~explore.cost.planner`: the arena planner (TFLite Micro's greedy strategy; knows nothing of
  training); :mod:`~explore.cost.lifetimes`: the training step's buffers and their lifetimes.
- :mod:`~explore.cost.state`: the trainable state and the model's flash.
- :mod:`~explore.cost.pricing`: latency, energy and budgets priced by a board profile, returning a
  typed :class:`~explore.cost.result.BoardCost`.
"""

from explore.cost.design import Design, design_from_genome
from explore.cost.lifetimes import inference_buffers, masks_error, plan_inference, plan_training, training_buffers
from explore.cost.planner import ALIGNMENT, CATEGORIES, ArenaPlan, Buffer, aligned, assign_offsets
from explore.cost.pricing import MemoryPlans, cost_design, cost_on_board, plan_design
from explore.cost.result import BoardCost, costs_from_dict, costs_to_dict
from explore.cost.state import QPARAM_BYTES, layer_sizes, model_flash, trainable_state
from explore.cost.work import EVENTS, PHASES, OpCounts, Work, layer_work, loop_units, macs, op_counts

__all__ = [
    "ALIGNMENT", "CATEGORIES", "EVENTS", "PHASES", "QPARAM_BYTES", "ArenaPlan", "BoardCost", "Buffer", "Design",
    "MemoryPlans", "OpCounts", "Work", "aligned", "assign_offsets", "cost_design", "cost_on_board", "costs_from_dict",
    "costs_to_dict", "design_from_genome", "inference_buffers", "layer_sizes", "layer_work", "loop_units", "macs",
    "masks_error", "model_flash", "op_counts", "plan_design", "plan_inference", "plan_training", "trainable_state",
    "training_buffers",
]
