"""The cost model: work counts, latency/energy pricing, budgets, and `explore cost` / `explore bench cost`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from explore.campaign import load_campaign, resolve_genome
from explore.cost import Design, cost_on_board, design_from_genome, macs, op_counts
from explore.model.families import build_model
from explore.model.spec import Conv, ModelSpec, paper_cnn
from explore.campaign.boards import Budgets, find_board
from explore.cost import plan_inference, plan_training, trainable_state
from explore.cost.design import DENSE_KERNEL_WEIGHTS_MAX
from explore.cost.result import BoardCost

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "search_spaces" / "quickstart.yaml"


def _explore(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explore", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


# --- work counts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,kernel,strides,padding,depthwise", [
    ((8, 8, 3), (3, 3), (1, 1), "same", False),
    ((9, 7, 2), (5, 3), (2, 2), "same", False),
    ((10, 4), (7,), (3,), "same", True),
    ((11, 11, 2), (3, 3), (2, 1), "valid", False),
    ((40, 1), (5,), (2,), "same", False),
])
def test_macs_count_exactly_the_taps_inside_the_input(shape, kernel, strides, padding, depthwise) -> None:
    channels = shape[-1]
    layer = Conv(channels if depthwise else 4, kernel, strides, padding, depthwise=depthwise)
    spec = ModelSpec(shape, 2, (layer, *_head()))
    # XLA's own padding: a conv of ones with ones counts the taps that land inside the input.
    dims = len(kernel)
    x = jnp.ones((1, *shape))
    w = jnp.ones((*kernel, 1 if depthwise else channels, layer.features))
    names = ("NWC", "WIO", "NWC") if dims == 1 else ("NHWC", "HWIO", "NHWC")
    out = jax.lax.conv_general_dilated(x, w, strides, padding.upper(), dimension_numbers=names,
                                       feature_group_count=channels if depthwise else 1)
    assert macs(spec, 0) == int(np.asarray(out).sum())


def _head():
    from explore.model.spec import Dense, Flatten
    return (Flatten(), Dense(2))


def test_paper_cnn_work_by_hand() -> None:
    spec = paper_cnn((8, 8, 1), 10)  # conv8, conv16 (3x3 same), maxpool, flatten, dense32, dense10
    taps = 22 * 22  # per axis: 2 + 6*3 + 2 taps land inside an 8-wide input with 'same' padding
    counts = op_counts(Design(spec, (4, 5), "uint8", batch_size=16))
    assert counts["forward"] == {
        ("conv_mac", "uint8"): taps * 1 * 8 + taps * 8 * 16,
        # patch: 64 positions x 9 taps x input channels (padding taps too); a dense layer's patch is its input
        ("conv_patch", "uint8"): 64 * 9 * 1 + 64 * 9 * 8 + 256 + 32,
        # channel-loop entries: output elements x taps inside the input; one per output of a dense layer
        ("conv_tap", "uint8"): taps * 8 + taps * 16 + 32 + 10,
        ("output", "uint8"): 8 * 8 * 8 + 8 * 8 * 16 + 32 + 10,
        ("pool", "uint8"): 8 * 8 * 16,
        ("dense_mac", "uint8"): 256 * 32 + 32 * 10,
        ("input", "uint8"): 64,                       # the 8x8 input quantized
        ("call", "uint8"): 6,                         # input, conv, conv, pool, dense, dense (flatten is a view)
        ("conv_call", "uint8"): 4,                    # conv, conv, dense, dense
        ("conv_position", "uint8"): 64 + 64 + 1 + 1,  # 8x8 outputs of each conv; a dense layer is one position
    }
    assert counts["backward"] == {
        ("loss", "uint8"): 10,
        ("weight_grad_mac", "uint8"): 320 + 8192,
        ("weight_grad_patch", "uint8"): 32 + 256,
        ("weight_grad_tap", "uint8"): 10 + 32,
        ("grad_accum", "uint8"): 330 + 8224,          # weights and biases of both trainable layers
        ("weight_grad_call", "uint8"): 2,
        ("weight_grad_position", "uint8"): 2,
        ("input_grad_mac", "uint8"): 320,             # dense 5 passes its error to dense 4, which is first
        ("input_grad_patch", "uint8"): 32,
        ("input_grad_tap", "uint8"): 10,
        ("input_grad_call", "uint8"): 1,
        ("input_grad_position", "uint8"): 1,
        ("error_quant", "uint8"): 32,
        ("error_elem", "uint8"): 32,                  # ReLU mask of dense 4
        ("call", "uint8"): 5,                         # loss; dense 5 gradient and input error; dense 4 mask, gradient
    }
    assert counts["update"] == {("update", "uint8"): 330 + 8224, ("call", "uint8"): 2}


def test_sparse_updates_scale_the_trainable_backward_work() -> None:
    spec = paper_cnn((8, 8, 1), 10)
    counts = op_counts(Design(spec, (4, 5), "uint8", lambda_min=0.5, lambda_max=1.0))
    # Prior rate at eps = 1/2: 0.75 -> k = floor(0.75 N): 7 of 10 and 24 of 32 channels.
    assert counts["backward"]["weight_grad_mac", "uint8"] == 0.7 * 320 + 0.75 * 8192
    assert counts["backward"]["input_grad_mac", "uint8"] == 0.7 * 320
    assert counts["backward"]["weight_grad_tap", "uint8"] == 0.7 * 10 + 0.75 * 32   # only kept channels loop
    assert counts["backward"]["weight_grad_patch", "uint8"] == 32 + 256            # the patch is gathered whole
    # Welford statistics and the float gradient buffer are kept for the kept channels only
    assert counts["backward"]["grad_accum", "uint8"] == 0.7 * 330 + 0.75 * 8224
    assert counts["backward"]["error_elem", "uint8"] == 32 + 10 + 32  # mask + l1 norms of both layers
    recorded = op_counts(Design(spec, (4, 5), "uint8", 0.5, 1.0, update_rates={4: 0.5, 5: 0.2}))
    assert recorded["backward"]["weight_grad_mac", "uint8"] == 0.2 * 320 + 0.5 * 8192


def test_mixed_prices_the_head_in_float() -> None:
    counts = op_counts(Design(paper_cnn((8, 8, 1), 10), (4, 5), "mixed"))
    assert counts["forward"]["dense_mac", "float32"] == 256 * 32 + 32 * 10
    assert ("dense_mac", "uint8") not in counts["forward"]
    assert counts["forward"]["conv_mac", "uint8"] > 0
    assert set(k[1] for k in counts["backward"]) == {"float32"}


# --- pricing ------------------------------------------------------------------------------------------------


def test_latency_energy_and_memory_follow_the_formulas() -> None:
    board = find_board("nrf52840")
    design = Design(paper_cnn((8, 8, 1), 10), (4, 5), "uint8", 0.5, 1.0, batch_size=16)
    cost = cost_on_board(design, board)
    counts = op_counts(design)
    seconds_per_instruction = board.cpi.value / board.clock_hz

    def priced(work):
        return sum(n * getattr(board.kernels[k], p) for (k, p), n in work.items()) * seconds_per_instruction * 1e3

    assert cost.latency_ms.forward == pytest.approx(priced(counts["forward"]))
    assert cost.latency_ms.backward == pytest.approx(priced(counts["backward"]))
    assert cost.latency_ms.update == pytest.approx(priced(counts["update"]) / 16)
    assert cost.train_latency_ms == pytest.approx(sum(vars(cost.latency_ms).values()))
    assert cost.infer_latency_ms == pytest.approx(cost.latency_ms.forward)
    power = board.power
    assert cost.energy_mj_per_sample == pytest.approx(
        cost.train_latency_ms / 1e3 * (power.active_ma.value - power.idle_ma.value) / 1e3 * power.supply_v.value * 1e3)
    sram = cost.sram_bytes
    assert sram.arena == plan_training(design.spec, (4, 5), "uint8", True).size
    assert sram.trainable == trainable_state(design.spec, (4, 5), "uint8")["total"]
    runtime = board.runtime
    assert sram.statics == int(runtime.statics_bytes.value + runtime.layer_state_bytes.value * len(design.spec.layers)
                                  + runtime.integer_stack_bytes.value   # a uint8 design ...
                                  + runtime.integer_training_stack_bytes.value)   # ... that trains uint8 layers
    assert sram.total == sram.arena + sram.trainable + sram.statics
    assert sram.inference_arena == plan_inference(design.spec, "uint8").size
    flash = cost.flash_bytes
    assert flash.total == flash.frozen + flash.trainable_init + flash.tables + flash.runtime
    assert cost.feasible and cost.violations == ()


def test_training_only_the_last_layer_costs_little_more_sram_than_inference() -> None:
    board = find_board("nrf52840")
    spec = paper_cnn((28, 28, 1), 10)
    last = cost_on_board(Design(spec, (5,)), board).sram_bytes
    everything = cost_on_board(Design(spec, (0, 1, 4, 5)), board).sram_bytes
    # The paper: frozen features keep nothing; only the last layer's weights, gradients and its
    # 32-byte input are added.  Training everything keeps every activation and needs error tensors.
    assert last.arena == last.inference_arena
    assert last.total - last.inference_total == last.trainable
    assert last.total <= 1.10 * last.inference_total
    assert everything.total > 3 * everything.inference_total


def test_faster_cores_train_faster() -> None:
    design = Design(paper_cnn((28, 28, 1), 10), (0, 1, 4, 5), "uint8")
    latency = {name: cost_on_board(design, find_board(name)).train_latency_ms
               for name in ("rp2040", "nrf52840", "imxrt1062")}
    # The paper's Fig. 7b ordering for full training: IMXRT fastest, then nrf52840 and RP2040.
    assert latency["imxrt1062"] < latency["nrf52840"] and latency["imxrt1062"] < latency["rp2040"]


def test_violations_name_the_budget_and_the_excess() -> None:
    board = find_board("nrf52840")
    design = Design(paper_cnn((28, 28, 1), 10), (0, 1, 4, 5), "float32")
    generous = cost_on_board(design, board)
    tight = board.model_copy(update={"budgets": Budgets(sram_bytes=50_000, train_latency_ms=1.0)})
    cost = cost_on_board(design, tight)
    assert not cost.feasible
    by_name = {v.budget: v for v in cost.violations}
    assert set(by_name) == {"sram_bytes", "train_latency_ms"}
    sram = by_name["sram_bytes"]
    assert sram.limit == 50_000 and sram.value == generous.sram_bytes.total
    assert sram.excess == sram.value - 50_000
    assert sram.excess_pct == pytest.approx(100 * sram.excess / 50_000)


def test_arena_must_fit_one_sram_bank() -> None:
    board = find_board("imxrt1062")  # 2 x 512 KB
    big = Design(ModelSpec((128, 128, 3), 2, (Conv(16, (3, 3)), Conv(16, (3, 3)), *_head())), (0, 1, 3))
    cost = cost_on_board(big, board)
    assert cost.sram_bytes.arena > board.largest_sram_bank
    assert "arena_bytes_in_one_sram_bank" in {v.budget for v in cost.violations}


def test_design_from_genome_applies_structured_pruning() -> None:
    campaign = load_campaign(QUICKSTART)
    def design(sparsity: float) -> Design:
        genome = resolve_genome(campaign, {**campaign.baseline, "sparsity": sparsity}, "genome")
        return design_from_genome(genome, campaign.pruning, campaign.on_device.batch_size, (40, 1), 10)

    dense, pruned = design(0.0), design(0.5)
    assert len(dense.spec.layers) == len(pruned.spec.layers)
    assert dense.spec == build_model("mbednet", {k: v for k, v in campaign.baseline.items()}, (40, 1), 10)
    assert sum(getattr(layer, "features", 0) for layer in pruned.spec.layers) < \
        sum(getattr(layer, "features", 0) for layer in dense.spec.layers)
    assert cost_on_board(pruned, find_board("rp2040")).flash_bytes.frozen < \
        cost_on_board(dense, find_board("rp2040")).flash_bytes.frozen


# --- the commands -------------------------------------------------------------------------------------------


def test_explore_cost_json_has_every_board_figure() -> None:
    result = _explore("cost", str(QUICKSTART), "--board", "rp2040", "--board", "imxrt1062", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out["boards"]) == {"rp2040", "imxrt1062"}
    for cost in out["boards"].values():
        assert {"arena", "trainable", "statics", "total"} <= set(cost["sram_bytes"])
        assert cost["sram_bytes"]["total"] == sum(cost["sram_bytes"][k] for k in ("arena", "trainable", "statics"))
        assert cost["flash_bytes"]["total"] > 0
        assert cost["train_latency_ms"] > cost["infer_latency_ms"] > 0
        assert cost["energy_mj_per_sample"] > 0
        assert cost["feasible"] is True and cost["violations"] == []
    assert out["boards"]["imxrt1062"]["train_latency_ms"] < out["boards"]["rp2040"]["train_latency_ms"]
    assert out["boards"]["rp2040"]["sram_bytes"]["budget"] == find_board("rp2040").sram_budget
    plan = out["arena_plan"]["training"]
    assert plan["size"] == out["boards"]["rp2040"]["sram_bytes"]["arena"]
    assert all({"name", "offset", "size", "first_step", "last_step"} <= set(b) for b in plan["buffers"])


def test_explore_cost_applies_the_campaigns_budgets() -> None:
    # The quickstart's search.budgets cut the nrf52840's SRAM budget to 128 KiB.
    out = json.loads(_explore("cost", str(QUICKSTART), "--json").stdout)
    assert out["boards"]["nrf52840"]["sram_bytes"]["budget"] == 131072 < find_board("nrf52840").sram_budget


def test_explore_cost_tables_and_infeasible_genome(tmp_path: Path) -> None:
    genome = tmp_path / "big.json"
    genome.write_text(json.dumps({"width": 2.0, "stages": 4, "expansion": 6, "head_channels": 256,
                                  "trainable_last": 8, "config": "float32"}))
    result = _explore("cost", str(QUICKSTART), "--genome", str(genome), "--board", "stm32l476")
    assert result.returncode == 0, result.stderr
    assert "stm32l476" in result.stdout and "INFEASIBLE" in result.stdout
    assert "over budget: sram_bytes" in result.stdout
    as_json = json.loads(_explore("cost", str(QUICKSTART), "--genome", str(genome), "--board", "stm32l476",
                                  "--json").stdout)
    violations = {v["budget"] for v in as_json["boards"]["stm32l476"]["violations"]}
    assert "sram_bytes" in violations


@pytest.mark.parametrize("args,message", [
    (["--board", "nosuchboard"], "--board nosuchboard: unknown board"),
    (["--genome", "missing.json"], "missing.json: genome file not found"),
])
def test_explore_cost_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = _explore("cost", str(QUICKSTART), *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_bench_cost_writes_genomes_per_second(tmp_path: Path) -> None:
    result = _explore("bench", "cost", str(QUICKSTART), "--out", str(tmp_path), "--seconds", "1")
    assert result.returncode == 0, result.stderr
    bench = json.loads((tmp_path / "cost.json").read_text())
    assert bench["boards"] == ["rp2040", "nrf52840", "imxrt1062"]
    assert bench["genomes"] > 0 and bench["genomes_per_s"] == pytest.approx(bench["genomes"] / bench["seconds"])
    assert bench["met"] == (bench["genomes_per_s"] >= bench["target_genomes_per_s"] == 200)


def test_board_cost_round_trips_through_its_stored_form() -> None:
    board = find_board("nrf52840")
    tight = board.model_copy(update={"budgets": Budgets(sram_bytes=20_000)})
    for profile in (board, tight):
        cost = cost_on_board(Design(paper_cnn((28, 28, 1), 10), (4, 5), "uint8", 0.5, 1.0, 16), profile)
        stored = json.loads(json.dumps(cost.to_dict()))
        assert BoardCost.from_dict(stored) == cost
        assert stored["sram_bytes"]["total"] == cost.train_sram == cost.sram_bytes.total
        assert [v["budget"] for v in stored["violations"]] == [v.budget for v in cost.violations]
    assert not cost.feasible and cost.violations[0].budget == "sram_bytes"


def test_the_integer_training_stack_counts_only_where_a_uint8_conv_backward_kernel_runs() -> None:
    board = find_board("rp2040")
    spec = paper_cnn((8, 8, 1), 10)   # conv8, conv16, maxpool, flatten, dense32 (1024 x 32), dense10 (32 x 10)
    big_dense = spec.param_layers()[-2]
    uint8 = Design(spec, (big_dense,), "uint8")
    mixed = Design(spec, (big_dense,), "mixed")   # frozen layers in uint8, the trained ones in float32
    assert uint8.runs_integer_layers and uint8.runs_integer_conv_backward
    assert mixed.runs_integer_layers and not mixed.runs_integer_conv_backward
    extra = cost_on_board(uint8, board).sram_bytes.statics - cost_on_board(mixed, board).sram_bytes.statics
    assert extra == int(board.runtime.integer_training_stack_bytes.value)
    # a dense layer of at most DENSE_KERNEL_WEIGHTS_MAX weights trains with the dense kernels' small scratch
    small_dense = Design(spec, (spec.param_layers()[-1],), "uint8")
    assert small_dense.trains_integer_layers and not small_dense.runs_integer_conv_backward


def test_the_dense_kernel_threshold_is_runtime_cs() -> None:
    header = (ROOT / "runtime_c" / "include" / "explore_kernels.h").read_text()
    assert re.search(r"#define EXPLORE_DENSE_WEIGHTS_MAX (\d+)u", header).group(1) == str(DENSE_KERNEL_WEIGHTS_MAX)
