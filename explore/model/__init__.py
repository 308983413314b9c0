"""The network as plain data (no JAX): the layer description every stage agrees on, the model
families that build it from a genome, structured pruning's channel accounting, and the deployable
float and uint8 models with their saved form (``explore.qmodel/1``)."""

from explore.model.artifacts import load_quantized, save_quantized
from explore.model.channels import pruned_spec
from explore.model.deployable import FloatModel, QuantizedModel, TensorQuant
from explore.model.families import FAMILIES, Family, build_model, get_family
from explore.model.spec import (CONFIGS, Add, AvgPool, Conv, Dense, Flatten, GlobalAvgPool, MaxPool, ModelSpec,
                                paper_cnn, spec_from_dict, spec_to_dict)

__all__ = [
    "CONFIGS", "FAMILIES", "Add", "AvgPool", "Conv", "Dense", "Family", "Flatten", "FloatModel", "GlobalAvgPool",
    "MaxPool", "ModelSpec", "QuantizedModel", "TensorQuant", "build_model", "get_family", "load_quantized",
    "paper_cnn", "pruned_spec", "save_quantized", "spec_from_dict", "spec_to_dict",
]
