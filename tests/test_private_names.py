"""No module uses another module's underscore names: shared internals are named, documented and
listed in their module's ``__all__`` (importing a private *module*, such as ``mtest._stepwise``, is
fine; reaching for ``sampler._COUNT`` or ``procedures._harmonic`` is not)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("mtest", "adapters", "benchmarks")
#: (file, name) uses that live in files another branch is changing; each must still occur (see below)
KNOWN: set = set()  # (file, name) exemptions; none today


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _defined_here(tree: ast.AST) -> set[str]:
    """Underscore names this file defines itself: functions, classes, assigned names and attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # object.__setattr__(self, "_x", ...)
    return {n for n in names if _private(n)}


def _is_module(path: Path, node: ast.ImportFrom, name: str) -> bool:
    if node.level:
        base = path.parent
        for _ in range(node.level - 1):
            base = base.parent
        parts = node.module.split(".") if node.module else []
    else:
        parts = (node.module or "").split(".")
        if parts[:2] == ["mtest", "adapters"]:
            parts = ["adapters", *parts[2:]]
        elif parts[0] not in ("mtest", "adapters"):
            return False  # a third-party package: its private names are not ours to judge here
        base = ROOT
    target = base.joinpath(*parts, name)
    return target.with_suffix(".py").exists() or (target / "__init__.py").exists()


def violations(path: Path) -> list[tuple[str, int, str]]:
    rel = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _defined_here(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] not in ("mtest", "adapters"):
                continue
            for alias in node.names:
                if _private(alias.name) and not _is_module(path, node, alias.name):
                    found.append((rel, node.lineno, alias.name))
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if node.attr in own:
                continue  # this module's own private attribute on another instance of its class
            if isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy", "torch", "pd", "dask"):
                continue
            found.append((rel, node.lineno, node.attr))
    return found


def _all_violations():
    files = sorted(p for d in SCANNED for p in (ROOT / d).rglob("*.py"))
    return [v for p in files for v in violations(p)]


def test_no_module_uses_another_modules_private_names():
    bad = [v for v in _all_violations() if (v[0], v[2]) not in KNOWN]
    assert not bad, "cross-module private names (name them, document them, list them in __all__): " + \
        ", ".join(f"{f}:{line} {name}" for f, line, name in bad)


def test_known_exceptions_are_still_needed():
    used = {(v[0], v[2]) for v in _all_violations()}
    stale = KNOWN - used
    assert not stale, f"remove these from KNOWN, they are gone: {stale}"


def test_the_scan_catches_both_forms(tmp_path, monkeypatch):
    monkeypatch.setattr("test_private_names.ROOT", tmp_path)
    pkg = tmp_path / "mtest"
    pkg.mkdir()
    (pkg / "_kernels.py").write_text("X = 1\n")
    (pkg / "other.py").write_text("_SECRET = 1\nclass A:\n    def __init__(self):\n        self._own = 1\n")
    (pkg / "user.py").write_text(
        "from . import _kernels\n"             # a private module: fine
        "from .other import _SECRET\n"         # another module's private name
        "from . import other\n"
        "y = other._SECRET\n"                  # the same through the module
        "class B:\n    def f(self, b):\n        return self._mine, b._mine\n"  # own names: fine
        "_mine = 0\n")
    found = violations(pkg / "user.py")
    assert [(line, name) for _, line, name in found] == [(2, "_SECRET"), (4, "_SECRET")]
