"""The Python examples of the README and docs/ run as written."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [(page, code) for page in PAGES
          for code in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)]


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    first = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
    commands = [l for l in first.splitlines() if l and not l.startswith("#")]
    assert commands[0].startswith("pip install -c constraints.txt -e . && mtest ")
    assert commands[1] == 'pip install -c constraints.txt -e ".[dev,torch]" && pytest'


@pytest.mark.parametrize("page, code", BLOCKS, ids=[f"{p.name}-{i}" for i, (p, _) in enumerate(BLOCKS)])
def test_python_blocks_run(page, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(page), "exec"), {})
