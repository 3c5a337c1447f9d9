"""The documentation site builds without warnings, and its API reference covers every public name."""
import os
import re
import subprocess
import sys
from pathlib import Path

import mtest
import mtest.testing

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"


def _documented() -> set[str]:
    text = "\n".join(p.read_text() for p in REFERENCE.glob("*.md"))
    return set(re.findall(r"^::: ([\w.]+)", text, flags=re.M))


def test_every_public_name_has_a_reference_entry():
    documented = _documented()
    missing = [name for name in mtest.__all__
               if name != "__version__" and f"mtest.{name}" not in documented
               and not any(d == f"mtest.{name.split('.')[0]}" for d in documented)
               # a function named like its module (mtest.qvalue) is documented by its full path
               and f"mtest.{name}.{name}" not in documented]
    assert not missing, f"public names without an API reference entry in docs/reference: {missing}"
    # whole-module pages
    assert {"mtest.testing", "adapters"} <= documented


def test_reference_pages_are_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in REFERENCE.glob("*.md"):
        assert f"reference/{page.name}" in nav, f"{page.name} is not in mkdocs.yml's nav"


def test_mkdocs_build_strict(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                           "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (tmp_path / "site" / "reference" / "multiple-testing" / "index.html").read_text()
    assert "Parameters" in page and "lehmann_romano" in page and "benjamini_hochberg" in page
    # Sphinx roles are not rendered by mkdocstrings: they would show as raw text
    raw = {}
    for html in (tmp_path / "site").rglob("*.html"):
        hits = SPHINX_ROLE.findall(html.read_text(encoding="utf-8"))
        if hits:
            raw[str(html.relative_to(tmp_path / "site"))] = sorted(set(hits))[:5]
    assert not raw, f"raw Sphinx roles in the built site: {raw}"


#: a Sphinx cross-reference role as it appears in HTML when nothing renders it
SPHINX_ROLE = re.compile(r":(?:func|class|mod|data|meth|attr):(?:`|<code>)")


def test_sphinx_role_pattern_matches_what_an_unrendered_role_looks_like():
    assert SPHINX_ROLE.search("see :func:`holm` and") and SPHINX_ROLE.search("see :func:<code>holm</code>")
    assert not SPHINX_ROLE.search("see <code>holm</code> and the ratio 1:2")
