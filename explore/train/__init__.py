"""Everything that trains on the host: the float network (Flax), pre-training with automated
gradual pruning, post-training quantization, and the trial pipeline that chains them with the
simulated on-device training (:func:`evaluate_design`)."""

from explore.train.agp import AGPSchedule
from explore.train.floatnet import FloatNet, fold_batchnorm, init_float_params, reinit_layers
from explore.train.pipeline import STAGES, check_design, evaluate_design
from explore.train.pretrain import PretrainResult, accuracy, pretrain_float
from explore.train.ptq import quantize_model, requantize_layers

__all__ = [
    "STAGES", "AGPSchedule", "FloatNet", "PretrainResult", "accuracy", "check_design", "evaluate_design",
    "fold_batchnorm", "init_float_params", "pretrain_float", "quantize_model", "reinit_layers",
    "requantize_layers",
]
