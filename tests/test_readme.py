"""The README's promises: two commands first, and a Python example that runs."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_readme_starts_with_exactly_two_commands() -> None:
    before_sections = README.split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", before_sections, re.S)
    assert [b.strip() for b in blocks] == [
        "pip install -e . && explore run search_spaces/quickstart.yaml --workers 2 --report --export "
        "results/quickstart/bundles",
        'pip install -e ".[test]" && pytest -n 2']


def test_readme_python_example_runs_and_learns() -> None:
    code = re.search(r"## Python API\n\n```python\n(.*?)```", README, re.S).group(1)
    assert "epochs=8" in code
    namespace: dict = {}
    exec(compile(code.replace("epochs=8", "epochs=3"), "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.config == "uint8" and len(result.history) == 3
    assert result.test_accuracy > 0.85
    assert all(0.5 <= rate < 1.0 for rate in result.update_rates.values())
