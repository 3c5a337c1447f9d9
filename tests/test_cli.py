import subprocess
import sys

import pytest

import mtest
from mtest.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert mtest.__version__ in capsys.readouterr().out


def test_help_lists_commands(capsys):
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out


def test_demo_runs(capsys):
    assert main(["demo", "--m", "10000", "--signal", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "holm" in out and "bonferroni" in out and "10000 hypotheses" in out


def test_demo_bad_argument(capsys):
    assert main(["demo", "--m", "0"]) == 2
    assert "--m must be >= 1" in capsys.readouterr().err


def test_console_script_installed():
    out = subprocess.run([sys.executable, "-m", "mtest.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "mtest" in out.stdout


def test_core_imports_without_torch():
    """Block torch with an import hook: the core must import and run without ever asking for it."""
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import mtest, mtest.multitest, mtest.testing, mtest.power, mtest.cli\n"
        "assert not any(m == 'torch' or m.startswith('torch.') for m in sys.modules)\n"
        "print(mtest.holm([0.01, 0.2]).n_rejected)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_bench_quick_runs(capsys, tmp_path):
    """Only checks that the benchmark runs and prints its table; timings live in benchmarks/."""
    assert main(["bench", "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| work | N | implementation |" in out and "holm rejections" in out
    assert (tmp_path / "speed.csv").exists() and (tmp_path / "speed.md").exists()
