"""What a design costs on a board before it trains (no JAX): the work of every runtime kernel call,
the training arena planned like TFLite Micro's greedy planner, the trainable state and flash, and
latency and energy priced by the board's profile."""

from explore.cost.memory import ArenaPlan, Buffer, model_flash, plan_inference, plan_training, trainable_state
from explore.cost.pricing import Design, cost_design, cost_on_board, design_from_genome, layer_work, plan_design

__all__ = [
    "ArenaPlan", "Buffer", "Design", "cost_design", "cost_on_board", "design_from_genome", "layer_work",
    "model_flash", "plan_design", "plan_inference", "plan_training", "trainable_state",
]
