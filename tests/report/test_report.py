"""explore report on a real (tiny) search: the three files, the figures, and the front they show."""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from postgres import free_port
from runs import assert_front_printed_whole, explore as _explore, journal_study, tiny_campaign as _campaign


class _Table(HTMLParser):
    """Rows of the table with id "front", as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._inside = self._cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("id", "front") in attrs:
            self._inside = True
        elif self._inside and tag == "tr":
            self.rows.append([])
        elif self._inside and tag in ("td", "th"):
            self._cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._inside = False
        elif tag in ("td", "th"):
            self._cell = False

    def handle_data(self, data):
        if self._inside and self._cell:
            self.rows[-1][-1] += data


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("report")
    path = _campaign(tmp_path, trials=5, sram=32000)
    result = _explore("run", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return path


def test_report_writes_html_csv_and_markdown_of_the_front(searched: Path) -> None:
    cwd = searched.parent
    result = _explore("report", str(searched), cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stderr
    out = cwd / "results" / "tiny" / "report"
    page = (out / "index.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 5  # fronts, hypervolume, (importance), memory, latency, curves
    for data in images:
        png = base64.b64decode(data)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    assert "src=\"http" not in page and "<script" not in page  # self-contained
    table = _Table()
    table.feed(page)
    with open(out / "pareto.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert table.rows == rows
    status = json.loads(_explore("status", str(searched), "--json", cwd=cwd).stdout)
    assert [int(r[0]) for r in rows[1:]] == [f["trial"] for f in status["front"]]
    for line, front in zip(rows[1:], status["front"]):
        assert float(line[1]) == pytest.approx(front["values"]["accuracy"], abs=5e-5)
    summary = (out / "summary.md").read_text()
    assert summary.count("\n|") == len(rows) + 1  # header, rule, one line per design
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no temporary files left behind"


def test_report_bad_input(tmp_path: Path) -> None:
    path = _campaign(tmp_path)
    result = _explore("report", str(path), cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "no study yet for tiny" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    infeasible = _campaign(tmp_path, trials=2, sram=1000, name="cramped")
    assert _explore("run", str(infeasible), cwd=tmp_path).returncode == 0
    result = _explore("report", str(infeasible), cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "no finished feasible trial" in result.stderr, result.stderr
    assert not (tmp_path / "results" / "cramped" / "report").exists()


def test_report_help_teaches() -> None:
    result = subprocess.run([sys.executable, "-m", "explore", "report", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "pareto.csv" in result.stdout and "budgets as red dashed" in result.stdout


CHROMIUM_HINT = "headless Chromium is needed to render the report: apt-get install -y chromium"

#: Injected into a copy of the page: after load, record whether every image decoded.
_IMAGE_PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const ok = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.setAttribute("data-images", ok + "/" + images.length);
});
</script>"""


def _chromium() -> str:
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(CHROMIUM_HINT, pytrace=False)
    return found


def _headless(binary: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--virtual-time-budget=10000", *args], capture_output=True, text=True, timeout=180)


def test_report_renders_in_headless_chromium(searched: Path, tmp_path: Path) -> None:
    import matplotlib.image

    binary = _chromium()
    cwd = searched.parent
    assert _explore("report", str(searched), "--out", str(tmp_path / "report"), cwd=cwd).returncode == 0
    page = tmp_path / "report" / "index.html"
    shot = tmp_path / "shot.png"
    result = _headless(binary, f"--screenshot={shot}", "--window-size=1400,2400", page.as_uri())
    assert shot.is_file(), result.stderr
    pixels = matplotlib.image.imread(shot)[..., :3]
    non_white = (pixels.min(axis=-1) < 0.9).mean()
    assert non_white > 0.05 and pixels.std() > 0.05, f"blank screenshot ({non_white:.1%} non-white)"
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", _IMAGE_PROBE + "</body>"))
    dom = _headless(binary, "--dump-dom", probe.as_uri()).stdout
    count = len(re.findall(r"<img ", page.read_text()))
    assert f'data-images="{count}/{count}"' in dom, re.findall(r'data-images="[^"]*"', dom)
    table = _Table()
    table.feed(dom)
    with open(tmp_path / "report" / "pareto.csv", newline="") as handle:
        assert table.rows == list(csv.reader(handle))  # the rendered table is the CSV, row for row


def test_run_then_report_and_export_in_one_command(tmp_path: Path) -> None:
    """The shape of the README's first command, on a tiny campaign."""
    path = _campaign(tmp_path, trials=3, sram=200000)
    result = _explore("run", str(path), "--report", "--export", "bundles", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    report = tmp_path / "results" / "tiny" / "report" / "index.html"
    assert last.startswith("done: report results/tiny/report/index.html; ") and "in bundles/" in last, last
    bundles = sorted((tmp_path / "bundles").iterdir())
    with open(report.parent / "pareto.csv", newline="") as handle:
        front = [row[0] for row in list(csv.reader(handle))[1:]]
    assert [b.name for b in bundles] == sorted(front) and all((b / "manifest.json").is_file() for b in bundles)


def test_the_curves_figure_draws_a_pretraining_history_that_samples_validation() -> None:
    """Pre-training records validation accuracy every few epochs and at the last (None elsewhere)."""
    from explore.report.pareto import TrialRow, curves_figure

    pretrain = [{"epoch": e, "loss": 1.0 / e, "val_accuracy": 0.5 + e / 100 if e in (5, 7) else None,
                 "sparsity": 0.0, "task": "target"} for e in range(1, 8)]
    on_device = [{"epoch": e, "loss": 1.0 / e, "train_accuracy": 0.5, "check_accuracy": 0.6, "update_rates": {}}
                 for e in (1, 2)]
    png = curves_figure([TrialRow(0, "complete", {}, 0.6, {}, {}, {"pretrain": pretrain, "on_device": on_device})])
    assert base64.b64decode(png).startswith(b"\x89PNG")


def test_report_files_have_the_permissions_the_umask_gives(searched: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "explore", "report", str(searched), "--out", str(out)],
                            cwd=searched.parent, capture_output=True, text=True, timeout=300, umask=0o022)
    assert result.returncode == 0, result.stderr
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == {"index.html": 0o644, "pareto.csv": 0o644, "summary.md": 0o644}  # not mkstemp's 0600


def test_status_into_a_pipe_prints_the_front_as_one_line_per_design(searched: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # a pipe has no width
    result = subprocess.run([sys.executable, "-m", "explore", "status", str(searched)], cwd=searched.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(_explore("status", str(searched), "--json", cwd=searched.parent).stdout)
    assert result.stdout.splitlines()[0].startswith(f"tiny: done {shown['trials']['complete']} · ")
    assert_front_printed_whole(result.stdout, shown["front"], shown["objectives"])


#: optuna-dashboard as its users start it (``optuna-dashboard <journal file>``), on loopback
_DASHBOARD = ("import sys, optuna_dashboard\n"
              "optuna_dashboard.run_server(sys.argv[1], host='127.0.0.1', port=int(sys.argv[2]))")


def _get_json(server: subprocess.Popen, url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None:
                pytest.fail(f"optuna-dashboard exited: {server.communicate()[1]}", pytrace=False)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_study_opens_in_optuna_dashboard(searched: Path) -> None:
    journal = searched.parent / "results" / "tiny" / "study.journal"
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _DASHBOARD, str(journal), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        listed = _get_json(server, f"http://127.0.0.1:{port}/api/studies")
        [summary] = [s for s in listed["study_summaries"] if s["study_name"] == "tiny"]
        detail = _get_json(server, f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}")
    finally:
        server.terminate()
        server.communicate(timeout=60)
    study = journal_study(searched.parent)
    assert summary["directions"] == ["maximize", "minimize"] and detail["name"] == "tiny"
    shown = [(t["number"], t["state"].upper(), t["values"], {p["name"] for p in t["params"]}) for t in detail["trials"]]
    assert shown == [(t.number, t.state.name, t.values, set(t.params)) for t in study.trials]
    assert {a["key"] for a in detail["union_user_attrs"]} >= {"genome", "constraints", "cost_estimate"}
