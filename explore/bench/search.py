"""``explore bench search``: search quality against wall time, per sampler (issue 5).

Each variant (tpe, nsga2, random, tpe with early stopping) runs the same campaign with the same
seed, trial budget and number of local workers, one after the other, through ``explore run`` in
a fresh journal.  The hypervolume of the feasible front is then recorded after every finished
trial against the wall time since the run started, with one reference point for all variants, so
that "when did variant A reach what random search reached at the end" is read off the curves.
"""

from __future__ import annotations

import datetime
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import yaml
from optuna.trial import TrialState

from explore.version import __version__
from explore.campaign import Campaign, load_campaign
from explore.search.hypervolume import hypervolume_curve, shared_reference
from explore.errors import BadInput
from explore.io import read_yaml_mapping, write_json_atomic, write_text_atomic
from explore.search.front import is_feasible_complete
from explore.search.storage import open_storage

VARIANTS = {"tpe": ("tpe", False), "nsga2": ("nsga2", False), "random": ("random", False), "tpe+es": ("tpe", True),
            "dnas": ("dnas", False), "dnas+tpe": ("dnas+tpe", False)}
#: tpe with early stopping must reach random search's final hypervolume within this share of random's wall time
TARGET_FRACTION_OF_RANDOM = 0.5
#: dnas+tpe must reach tpe's final hypervolume within this share of tpe's wall time
TARGET_FRACTION_OF_TPE = 1 / 3


def _variant_campaign(raw: dict, sampler: str, early: bool, path: Path) -> Path:
    search = dict(raw["search"])
    search["sampler"] = {**search.get("sampler", {}), "name": sampler}
    search["early_stopping"] = {**search.get("early_stopping", {}), "enabled": early}
    search.pop("storage", None)
    write_text_atomic(path, yaml.safe_dump({**raw, "search": search}, sort_keys=False))
    return path


def _time_to_reach(curve: list[dict], level: float) -> float | None:
    return next((p["seconds"] for p in curve if p["hypervolume"] >= level * (1 - 1e-12)), None)


def run_search_bench(campaign_path: Path, out_dir: Path, trials: int, workers: int,
                     variants: tuple[str, ...]) -> dict:
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise BadInput(f"--variant: unknown {unknown}; allowed: {', '.join(VARIANTS)}")
    campaign = load_campaign(campaign_path)
    if campaign.search is None:
        raise BadInput(f"{campaign_path}: search: the campaign has no search section")
    raw = read_yaml_mapping(campaign_path, "campaign file", "name, dataset, model, search")
    work = Path(out_dir) / "search"
    runs: dict[str, dict] = {}
    for name in variants:
        sampler, early = VARIANTS[name]
        results = work / name.replace("+", "_")
        if results.exists():
            subprocess.run(["rm", "-rf", str(results)], check=True)
        results.mkdir(parents=True)
        variant = _variant_campaign(raw, sampler, early, results / Path(campaign_path).name)
        print(f"bench search: {name} ({trials} trials, {workers} workers) ...", flush=True)
        tick, started = time.perf_counter(), datetime.datetime.now()
        with open(results / "run.log", "w") as log:
            subprocess.run([sys.executable, "-m", "explore", "run", str(variant), "--trials", str(trials),
                            "--workers", str(workers), "--results", str(results)], check=True,
                           stdout=log, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - tick
        storage = open_storage(str(results / campaign.name / "study.journal"), "bench")
        study = optuna.load_study(study_name=campaign.name, storage=storage)
        # The curve's clock starts with explore run, so a dnas variant pays for its supernet and search.
        runs[name] = {"trials": study.get_trials(deepcopy=False), "wall_seconds": wall, "started": started}
    ref = shared_reference(campaign, [r["trials"] for r in runs.values()])
    result = _summarize(campaign, runs, ref, trials, workers)
    write_json_atomic(Path(out_dir) / "search.json", result)
    return result


def summary_lines(result: dict, out_dir: Path) -> list[str]:
    """What ``explore bench search`` prints of ``result``: each variant's final hypervolume and wall
    time, whether each target was met, and where search.json went."""
    lines = [f"{name:8s} hypervolume {v['final_hypervolume']:.6g} in {v['wall_seconds']:.0f} s "
             f"(complete {v['complete']}, infeasible {v['infeasible']}, stopped early {v['stopped_early']}, "
             f"failed {v['failed']})" for name, v in result["variants"].items()]
    target = result.get("target")
    if target:
        shown = "never" if target["fraction_of_random"] is None else f"{target['fraction_of_random']:.0%} of it"
        lines.append(f"tpe+es reached random's final hypervolume in {shown} ({'met' if target['met'] else 'MISSED'}; "
                     f"target <= {TARGET_FRACTION_OF_RANDOM:.0%})")
    dnas = result.get("dnas_target")
    if dnas:
        shown = "never" if dnas["fraction"] is None else f"{dnas['fraction']:.0%} of it"
        lines.append(f"dnas+tpe reached tpe's final hypervolume in {shown} ({'met' if dnas['met'] else 'MISSED'}; "
                     f"target <= {TARGET_FRACTION_OF_TPE:.0%})")
    lines.append(f"wrote {Path(out_dir) / 'search.json'}")
    return lines


def _reach_target(variants: dict, baseline: str, contender: str, fraction: float) -> dict:
    """When ``contender`` first reached ``baseline``'s final hypervolume, as a share of the baseline's
    wall time (its whole ``explore run``, the supernet and gradient search included)."""
    level, wall = variants[baseline]["final_hypervolume"], variants[baseline]["wall_seconds"]
    reached = _time_to_reach(variants[contender]["curve"], level)
    by_deadline = [p["hypervolume"] for p in variants[contender]["curve"] if p["seconds"] <= fraction * wall]
    return {"rule": f"{contender} reaches {baseline}'s final hypervolume within {fraction:.0%} of {baseline}'s wall time",
            f"{baseline}_final_hypervolume": level, f"{baseline}_seconds": wall,
            "seconds_to_reach": reached, "fraction": None if reached is None else reached / wall,
            "share_of_it_at_the_deadline": by_deadline[-1] / level if by_deadline and level else 0.0,
            "met": reached is not None and reached / wall <= fraction}


def _summarize(campaign: Campaign, runs: dict, ref: np.ndarray, trials: int, workers: int) -> dict:
    variants = {}
    for name, run in runs.items():
        curve = hypervolume_curve(campaign, run["trials"], ref, run["started"])
        states = [t.state for t in run["trials"]]
        variants[name] = {
            "wall_seconds": run["wall_seconds"], "final_hypervolume": curve[-1]["hypervolume"] if curve else 0.0,
            "complete": sum(is_feasible_complete(t) for t in run["trials"]),
            "infeasible": sum(s == TrialState.COMPLETE for s in states) - sum(is_feasible_complete(t)
                                                                              for t in run["trials"]),
            "stopped_early": states.count(TrialState.PRUNED), "failed": states.count(TrialState.FAIL),
            "curve": curve}
    result = {"campaign": campaign.name, "trials": trials, "workers": workers, "seed": campaign.seed,
              "objectives": [f"{o.name} ({o.resolved_direction})" for o in campaign.search.objectives],
              "reference_point": ref.tolist(), "variants": variants,
              "explore_version": __version__, "optuna_version": optuna.__version__, "machine": platform.machine()}
    if "random" in variants and "tpe+es" in variants:
        reach = _reach_target(variants, "random", "tpe+es", TARGET_FRACTION_OF_RANDOM)
        # search.json's established key names for this target
        result["target"] = {"rule": reach["rule"], "random_final_hypervolume": reach["random_final_hypervolume"],
                            "random_seconds": reach["random_seconds"],
                            "tpe_es_seconds_to_reach": reach["seconds_to_reach"],
                            "fraction_of_random": reach["fraction"],
                            "tpe_es_share_of_it_at_the_deadline": reach["share_of_it_at_the_deadline"],
                            "met": reach["met"]}
    if "tpe" in variants and "dnas+tpe" in variants:
        result["dnas_target"] = _reach_target(variants, "tpe", "dnas+tpe", TARGET_FRACTION_OF_TPE)
    return result
