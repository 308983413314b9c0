"""The Pareto report of a campaign's study: per-board fronts against the budgets, hypervolume,
parameter importance, memory and latency of the front, training curves (``index.html``), and the
front as ``pareto.csv`` and ``summary.md``."""

from explore.report.pareto import TrialRow, front_rows, front_table, trial_rows
from explore.report.study_report import write_report

__all__ = ["TrialRow", "front_rows", "front_table", "trial_rows", "write_report"]
