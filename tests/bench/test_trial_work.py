"""The work one evaluate does, counted on a network small enough to count by hand, and the kernels
whose measured throughput is its limit."""

from __future__ import annotations

from dataclasses import replace

from explore.bench.throughput import KernelShape, largest_layer, layer_shape, measure_throughput
from explore.bench.trial_work import TrialRun, forward_macs, stage_work, training_macs
from explore.model.spec import Conv, Dense, Flatten, ModelSpec

# input 6 positions x 1 channel
SPEC = ModelSpec((6, 1), 2, (
    Conv(2, (3,), padding="valid"),  # 0: 4 positions x 3 taps x 1 input x 2 outputs = 24 MACs
    Conv(3, (1,), padding="valid"),  # 1: 4 positions x 1 tap x 2 inputs x 3 outputs = 24 MACs
    Flatten(),                       # 2: 12 values
    Dense(2),                        # 3: 12 x 2 = 24 MACs
))
FORWARD = 72


def test_forward_and_training_macs_by_hand() -> None:
    assert forward_macs(SPEC) == FORWARD
    assert forward_macs(SPEC, start=1) == 48 and forward_macs(SPEC, start=3) == 24
    # the dense layer alone: its forward and weight gradient, no input error; the frozen prefix
    # (layers 0-2) runs once per data set, outside the step
    assert training_macs(SPEC, (3,)) == 24 + 24
    # from layer 1 up: forward of 1 and 3, weight gradients of 1 and 3, input error of 3 only
    assert training_macs(SPEC, (1, 3)) == 48 + (24 + 24) + 24
    # a frozen layer between trainable ones still passes the error down
    assert training_macs(SPEC, (0, 3)) == FORWARD + (24 + 24) + (24 + 24)
    # everything: about 3x the forward pass, less the first layer's input error
    assert training_macs(SPEC, (0, 1, 3)) == 3 * FORWARD - 24


RUN = TrialRun(pretrain_spec=SPEC, spec=SPEC, trainable=(3,), train=100, val=10, test=30, source=0,
               pretrain_batch=32, source_epochs=0, target_epochs=2, val_checks=2, calibration_samples=50,
               calibration_passes=2, on_device_epochs=3, test_forwards=3, val_forwards=3)


def test_stage_flops_by_hand() -> None:
    flop = {stage: work.flop for stage, work in stage_work(RUN).items()}
    # 2 epochs x 3 full batches of 32, all layers trained (192 MACs); 2 validation checks of 10
    assert flop["pretrain"] == 2 * (2 * 96 * 192 + 2 * 10 * FORWARD)
    # two calibration passes (percentile) over 50 samples
    assert flop["ptq"] == 2 * (2 * 50 * FORWARD)
    # the frozen prefix (layers 0-1, 48 MACs) once over the 100 training and 10 validation samples;
    # then 3 epochs of 100 samples training the dense layer (48 MACs), each checked on the 10
    # validation samples through the dense layer alone (24 MACs)
    assert flop["on_device"] == 2 * ((100 + 10) * 48 + 3 * 100 * 48 + 3 * 10 * 24)
    # three accuracies (float32, PTQ, on-device) on the test and on the validation split
    assert flop["metrics"] == 2 * (3 * 30 + 3 * 10) * FORWARD


def test_without_validation_on_device_training_checks_on_test_and_source_pretraining_counts() -> None:
    run = replace(RUN, val=0, val_checks=0, val_forwards=0, source=64, source_epochs=1)
    flop = {stage: work.flop for stage, work in stage_work(run).items()}
    assert flop["pretrain"] == 2 * (64 + 2 * 96) * 192
    assert flop["on_device"] == 2 * ((100 + 30) * 48 + 3 * 100 * 48 + 3 * 30 * 24)
    assert flop["metrics"] == 2 * 3 * 30 * FORWARD


def test_the_limit_kernels_have_the_largest_layers_work() -> None:
    assert largest_layer(SPEC) in (0, 1, 3)
    for i in (0, 1, 3):
        shape = layer_shape(SPEC, i, batch=8)
        assert shape.flop == 2 * 8 * 24  # 2 FLOP per MAC, every tap inside the input ('valid')
    assert layer_shape(SPEC, 1, batch=8) == KernelShape(8, 4, 2, 3)
    measured = measure_throughput(KernelShape(4, 8, 16, 16), runs=2, min_run_s=0.001)
    assert measured["matmul_gflops"] > 0 and measured["conv1x1_gflops"] > 0
    assert measured["limit_gflops"] == max(measured["matmul_gflops"], measured["conv1x1_gflops"])
    assert measured["limit_gflops"] == measured[f"{measured['limit_kernel']}_gflops"]
