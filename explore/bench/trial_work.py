"""The arithmetic one evaluate does, stage by stage, counted from the cost model's MACs (issue 16).

A conv/dense layer's forward pass is :func:`explore.cost.macs` multiply-accumulates per sample.  Its
backward pass costs as much again for the weight gradient when the layer trains, and as much again
for the input error when a trainable layer lies below it (the first trainable layer needs none).
Pre-training trains every layer, so its step is about 3x the forward MACs.  Everything else a step
does (activations, pooling, BatchNorm, quantization, the optimizer) is elementwise and not counted.

Sample counts follow what the pipeline runs: pre-training sees full batches only
(:func:`~explore.train.pretrain.training_steps`); evaluation and on-device training see every sample
once per pass.  Rows that only pad a last batch to the compiled shape are overhead, not work.
"""

from __future__ import annotations

from dataclasses import dataclass

from explore.campaign import Campaign
from explore.cost import macs
from explore.model.spec import ModelSpec, spec_from_dict
from explore.train.pretrain import training_steps
from explore.train.ptq import calibration_passes

FLOP_PER_MAC = 2
STAGES = ("pretrain", "ptq", "on_device", "metrics")


def forward_macs(spec: ModelSpec, start: int = 0) -> int:
    """Multiply-accumulates of one sample's forward pass through the layers from ``start`` on."""
    return sum(macs(spec, i) for i in spec.param_layers() if i >= start)


def training_macs(spec: ModelSpec, trainable: tuple[int, ...]) -> int:
    """Multiply-accumulates of one sample's training step with ``trainable`` layers: the forward
    from the first trainable layer on (the frozen prefix before it runs once per data set, see
    :class:`StageWork`), the weight gradients of the trainable layers, and the input errors of every
    layer above the first one."""
    first = min(trainable)
    backward = sum(macs(spec, i) * ((i in trainable) + (i > first)) for i in spec.param_layers())
    return forward_macs(spec, first) + backward


@dataclass(frozen=True)
class StageWork:
    """Samples one stage passes through ``spec``: forward and backward, or forward only, from layer
    ``start`` on; and ``prefix_samples`` through the layers before ``start`` (on-device training runs
    its frozen prefix once per data set, not once per epoch)."""

    spec: ModelSpec
    trainable: tuple[int, ...] = ()
    train_samples: int = 0
    forward_samples: int = 0
    start: int = 0
    prefix_samples: int = 0

    @property
    def flop(self) -> int:
        train = training_macs(self.spec, self.trainable) if self.train_samples else 0
        prefix = forward_macs(self.spec) - forward_macs(self.spec, self.start)
        return FLOP_PER_MAC * (self.train_samples * train + self.forward_samples * forward_macs(self.spec, self.start)
                               + self.prefix_samples * prefix)


@dataclass(frozen=True)
class TrialRun:
    """What one evaluate ran, as counts: data split sizes, epochs run, passes made."""

    #: The network pre-training trains (structured pruning shrinks it afterwards).
    pretrain_spec: ModelSpec
    #: The network after pre-training: what PTQ, on-device training and the metrics run.
    spec: ModelSpec
    trainable: tuple[int, ...]
    train: int
    val: int
    test: int
    source: int
    pretrain_batch: int
    source_epochs: int
    target_epochs: int
    #: Pre-training epochs after which validation accuracy was computed.
    val_checks: int
    calibration_samples: int
    calibration_passes: int
    on_device_epochs: int
    #: Forward passes over the test split (and the validation split) when the metrics are taken.
    test_forwards: int
    val_forwards: int


def _full_batch_samples(n: int, epochs: int, batch_size: int) -> int:
    return training_steps(n, epochs, batch_size) * min(batch_size, n) if epochs else 0


def stage_work(run: TrialRun) -> dict[str, StageWork]:
    """The samples each stage of ``run`` passes through its network."""
    everything = run.pretrain_spec.param_layers()
    pretrained = (_full_batch_samples(run.source, run.source_epochs, run.pretrain_batch)
                  + _full_batch_samples(run.train, run.target_epochs, run.pretrain_batch))
    # On-device training checks accuracy on the validation split, or the test split without one.
    check = run.val or run.test
    return {
        "pretrain": StageWork(run.pretrain_spec, everything, pretrained, run.val_checks * run.val),
        "ptq": StageWork(run.spec, forward_samples=run.calibration_passes * run.calibration_samples),
        "on_device": StageWork(run.spec, run.trainable, run.on_device_epochs * run.train,
                               run.on_device_epochs * check, start=min(run.trainable),
                               prefix_samples=run.train + check),
        "metrics": StageWork(run.spec, forward_samples=run.test_forwards * run.test + run.val_forwards * run.val),
    }


def trial_run(campaign: Campaign, pretrain_spec: ModelSpec, metrics: dict) -> TrialRun:
    """The counts of the evaluate of ``campaign`` that wrote ``metrics``: epochs and checks as its
    histories record them, one forward pass per accuracy it reports."""
    sizes = metrics["dataset"]
    pretrain = metrics["history"]["pretrain"]
    target = [r for r in pretrain if r.get("task") != "source"]
    quantization = campaign.quantization
    return TrialRun(
        pretrain_spec=pretrain_spec, spec=spec_from_dict(metrics["architecture"]),
        trainable=tuple(metrics["trainable"]), train=sizes["train"], val=sizes["val"], test=sizes["test"],
        source=sizes["source"], pretrain_batch=campaign.pretrain.batch_size,
        source_epochs=len(pretrain) - len(target), target_epochs=len(target),
        val_checks=sum(r["val_accuracy"] is not None for r in target),
        calibration_samples=min(quantization.calibration_samples, sizes["train"]),
        calibration_passes=calibration_passes(quantization.calibration, quantization.percentile),
        on_device_epochs=len(metrics["history"]["on_device"]),
        test_forwards=len(metrics["accuracy"]), val_forwards=len(metrics.get("validation_accuracy", {})),
    )
