"""The README's promises: two commands first, and a Python example that runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_exactly_two_commands() -> None:
    before_sections = README.split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", before_sections, re.S)
    assert [b.strip() for b in blocks] == [
        "pip install -e . && explore run search_spaces/quickstart.yaml --workers 2 --report --export "
        "results/quickstart/bundles",
        'scripts/setup-debian && python3 -m pip install -e ".[test]" && python3 -m pytest -n 2']


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    test_command = re.findall(r"```sh\n(.*?)```", README.split("\n## ", 1)[0], re.S)[1].strip()
    ci_commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                   if line.strip() and not line.lstrip().startswith("#")]
    assert ci_commands[-1] == test_command  # the last command: its status is the script's
    assert "export PIP_BREAK_SYSTEM_PACKAGES=1" in ci_commands
    assert (ROOT / "scripts" / "setup-debian").stat().st_mode & 0o111  # the command runs it directly


def test_readme_python_example_runs_and_learns() -> None:
    code = re.search(r"## Python API\n\n```python\n(.*?)```", README, re.S).group(1)
    assert "epochs=8" in code
    namespace: dict = {}
    exec(compile(code.replace("epochs=8", "epochs=3"), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.config == "uint8" and len(result.history) == 3
    assert result.test_accuracy > 0.85
    assert all(0.5 <= rate < 1.0 for rate in result.update_rates.values())


def test_readme_campaign_example_costs_a_design_with_the_public_api(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # the example names the campaign as the README's commands do
    blocks = re.findall(r"```python\n(.*?)```", README.split("## Python API", 1)[1], re.S)
    code = blocks[1]
    assert "import explore\n" in code and "explore." in code
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    cost, genome = namespace["cost"], namespace["genome"]
    assert cost.feasible and 0 < cost.sram_bytes.total <= cost.sram_bytes.budget
    assert genome.architecture["width"] == 0.5 and genome.to_dict()["kernel"] == 5
    # only public names: every `explore.X` the examples use is in explore.__all__
    import explore
    used = set(re.findall(r"explore\.(\w+)", "".join(blocks)))
    assert used <= set(explore.__all__), used - set(explore.__all__)
