"""Every public name on the API reference pages has complete numpydoc sections, parsed by griffe (the
parser the documentation site uses): the documented parameters are exactly the signature's, functions
document what they return, and result classes (dataclasses) document their attributes."""
import dataclasses
import importlib
import inspect
import re
import warnings
from pathlib import Path

import pytest

griffe = pytest.importorskip("griffe")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"


def _entries():
    """(dotted path of a documented object or module, explicit member list or None for all)."""
    text = "\n".join(p.read_text() for p in sorted(REFERENCE.glob("*.md")))
    for path, options in re.findall(r"^::: ([\w.]+)((?:\n    .*)*)", text, flags=re.M):
        members = re.findall(r"^\s+- (\w+)$", options, flags=re.M)
        yield path, (members or ("all" if "members: true" in options else None))


def _runtime(path: str):
    if path.startswith("adapters"):
        path = "mtest." + path  # the adapters package is imported as mtest.adapters
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


def _objects():
    """(dotted path, runtime object) of every documented function and class."""
    seen = {}
    for path, members in _entries():
        obj = _runtime(path)
        if inspect.ismodule(obj):
            names = getattr(obj, "__all__", None) if members == "all" else members
            names = [n for n in (names or []) if not n.startswith("_")]
            for name in names:
                seen.setdefault(f"{path}.{name}", getattr(obj, name))
        else:
            seen.setdefault(path, obj)
    return {p: o for p, o in seen.items() if inspect.isfunction(o) or inspect.isclass(o)}


_PACKAGES = {}


def _griffe_object(path: str):
    top = path.split(".")[0]
    if top not in _PACKAGES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _PACKAGES[top] = griffe.load(top, search_paths=[str(ROOT)], docstring_parser="numpy",
                                         resolve_aliases=True, resolve_external=False)
    obj = _PACKAGES[top]
    for part in path.split(".")[1:]:
        obj = obj.members[part]
    return obj.final_target if obj.is_alias else obj


def _sections(path: str) -> dict:
    obj = _griffe_object(path)
    if obj.docstring is None:
        return {}
    out: dict = {}
    for section in obj.docstring.parse("numpy"):
        out.setdefault(section.kind.value, []).append(section)
    return out


def _names(sections, kind) -> list[str]:
    names = []
    for section in sections.get(kind, []):
        for item in section.value:
            # numpydoc "a, b : int" documents two parameters
            names.extend(n.strip().lstrip("*") for n in item.name.split(","))
    return names


def _signature_params(fn) -> list[str]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.name not in ("self", "cls")]


def problems(path: str, obj) -> list[str]:
    sections = _sections(path)
    if not sections:
        return ["no docstring"]
    found = []
    if inspect.isclass(obj):
        if dataclasses.is_dataclass(obj):
            fields = [f.name for f in dataclasses.fields(obj) if not f.name.startswith("_")]
            documented = set(_names(sections, "attributes")) | set(_names(sections, "parameters"))
            missing = [f for f in fields if f not in documented]
            extra = [d for d in documented if not hasattr(obj, d) and d not in fields]
            if missing:
                found.append(f"attributes not documented: {missing}")
            if extra:
                found.append(f"documented but not attributes: {extra}")
            return found
        init = obj.__init__
        if init is object.__init__ or not inspect.isfunction(init):
            return found  # nothing to document (e.g. a warning class)
        expected = _signature_params(init)
    else:
        expected = _signature_params(obj)
        if "returns" not in sections and "yields" not in sections:
            if inspect.signature(obj).return_annotation not in (None, "None"):
                found.append("no Returns section")
    documented = _names(sections, "parameters") + _names(sections, "other parameters")
    missing = [p for p in expected if p not in documented]
    extra = [d for d in documented if d not in expected]
    if missing:
        found.append(f"parameters not documented: {missing}")
    if extra:
        found.append(f"documented parameters not in the signature: {extra}")
    return found


OBJECTS = _objects()


@pytest.mark.parametrize("path", sorted(OBJECTS))
def test_docstring_is_complete(path):
    assert not problems(path, OBJECTS[path]), problems(path, OBJECTS[path])


def test_the_reference_covers_the_documented_names():
    assert {"mtest.holm", "mtest.hochberg", "mtest.compat.p_adjust", "adapters.SegmentationSmoother",
            "mtest.qvalue.qvalue"} <= set(OBJECTS)
    assert len(OBJECTS) > 80
    # an entry that names a module where a function was meant renders the module page instead
    for path, members in _entries():
        if members is None:
            assert not inspect.ismodule(_runtime(path)), f"::: {path} is a module; name the object"


#: methods from the literature: their docstrings cite it
LITERATURE = ["mtest." + n for n in (
    "reject", "adjust", "holm", "bonferroni", "lehmann_romano", "sidak", "holm_sidak", "hochberg", "hommel",
    "benjamini_hochberg", "benjamini_yekutieli", "benjamini_krieger_yekutieli", "gavrilov_benjamini_sarkar",
    "binom_pvalue", "binomtest", "clopper_pearson", "segcertify", "segcertify_counts", "cohen_certify",
    "cohen_predict", "indiv_class", "joint_class", "joint_class_from_count", "GaussianL2", "LaplaceL1",
    "qvalue.qvalue", "plan_samples", "SequentialCertifier", "segcertify_radius_map", "hierarchical_segcertify",
    "certified_information_gain", "reject_table", "compat.p_adjust", "compat.multipletests",
    "compat.false_discovery_control")]


@pytest.mark.parametrize("path", LITERATURE)
def test_methods_from_the_literature_cite_it(path):
    sections = _sections(path)
    titles = [getattr(s, "title", "") or "" for s in sections.get("admonition", [])]
    assert "references" in sections or "References" in titles, f"{path} has no References section"


def test_the_check_finds_missing_extra_and_undocumented(tmp_path):
    def fn(pvalues, alpha=0.05, *, axis=None):
        """Summary.

        Parameters
        ----------
        pvalues : array_like
            p-values.
        beta : float
            Not a parameter.
        """
        return 1

    obj = griffe.Function("fn", docstring=griffe.Docstring(inspect.getdoc(fn), parser="numpy"))
    _griffe_object.__globals__["_PACKAGES"]["fake"] = type("P", (), {"members": {"fn": obj}})()
    try:
        found = problems("fake.fn", fn)
    finally:
        del _PACKAGES["fake"]
    assert found == ["no Returns section", "parameters not documented: ['alpha', 'axis']",
                     "documented parameters not in the signature: ['beta']"]
