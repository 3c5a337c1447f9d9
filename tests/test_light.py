"""Light and quick to start: lazy ``import mtest``, a ``--help`` without numba, optional extras with
clear messages, every CLI option's default in its help. Timings live in benchmarks/startup.py."""
import argparse
import io
import json
import pydoc
import subprocess
import sys
import textwrap

import numpy as np

import pytest

import mtest
from mtest.cli import BUILTIN_METHODS, build_parser

HEAVY = ("numba", "scipy.stats", "pandas", "matplotlib", "tqdm", "pyarrow", "torch")


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True,
                          text=True, timeout=600)


def _loaded(code: str) -> dict:
    """Run ``code`` in a fresh interpreter and return which of HEAVY it left imported."""
    out = _run(code + "\nimport json, sys\nprint(json.dumps({m: m in sys.modules for m in %r}))"
               % (HEAVY,))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- lazy import ------------------------------------------------------------------------------------

def test_import_mtest_loads_nothing_heavy():
    loaded = _loaded("import mtest")
    assert not any(loaded.values()), loaded


def test_holm_loads_numba_but_not_scipy_stats_pandas_or_plotting():
    """A small call runs on numpy (mtest._small) and imports nothing heavy, not even numba; a
    large one imports numba for its kernels, and still nothing else."""
    loaded = _loaded("import mtest\nassert mtest.holm([0.01, 0.2]).n_rejected == 1")
    assert not any(loaded.values()), loaded
    loaded = _loaded("import mtest, numpy as np\n"
                     "assert mtest.holm(np.full(1 << 16, 0.5)).n_rejected == 0")
    assert loaded["numba"]
    assert not any(v for k, v in loaded.items() if k != "numba"), loaded


@pytest.mark.parametrize("argv", [["--help"], ["--version"], *[[c, "--help"] for c in
                                  ("power", "plan", "adjust", "bench", "certify-demo", "certify", "demo")]])
def test_cli_help_imports_neither_numba_nor_scipy_stats(argv):
    code = "import sys\nfrom mtest.cli import main\ntry:\n    main(%r)\nexcept SystemExit as e:\n" \
           "    assert e.code in (0, None), e.code" % (argv,)
    loaded = _loaded(code)
    assert not any(loaded.values()), loaded


def test_every_public_name_imports():
    assert len(mtest.__all__) == len(set(mtest.__all__))
    for name in mtest.__all__:
        ns = {}
        exec(f"from mtest import {name}", ns)
        assert ns[name] is getattr(mtest, name)
    ns = {}
    exec("from mtest import *", ns)
    assert set(mtest.__all__) <= set(ns)


def test_every_public_name_imports_in_a_fresh_process():
    """A name of each submodule first thing after ``import mtest`` (the order a user may pick)."""
    first = {}
    for name, module in mtest._LAZY.items():
        first.setdefault(module, name)
    code = """
    import subprocess, sys
    for name in sys.argv[1:]:
        out = subprocess.run([sys.executable, "-c", f"import mtest; x = mtest.{name}; from mtest import {name}"],
                             capture_output=True, text=True)
        assert out.returncode == 0, (name, out.stderr)
    print("ok")
    """
    out = _run(code, *first.values())
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_submodules_still_work_as_attributes():
    out = _run("import mtest, inspect\n"
               "print(inspect.ismodule(mtest.power), callable(mtest.power.run_study), "
               "inspect.ismodule(mtest.multitest), 'power' in dir(mtest))")
    assert out.returncode == 0 and out.stdout.split() == ["True", "True", "True", "False"], out.stderr


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'holmm'"):
        mtest.holmm  # noqa: B018
    assert not hasattr(mtest, "PackageNotFoundError")


def _sections(text: str) -> dict:
    """pydoc's plain-text page, split at its upper-case headings (NAME, CLASSES, DATA, ...)."""
    sections, name = {}, None
    for line in text.splitlines():
        if line and line.isupper() and not line.startswith(" "):
            name = line.strip()
            sections[name] = []
        elif name:
            sections[name].append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


def test_dir_and_help_show_the_public_api_only():
    assert dir(mtest) == sorted(mtest.__all__)
    sections = _sections(pydoc.render_doc(mtest, renderer=pydoc.plaintext))
    # PACKAGE CONTENTS (pydoc lists every file of the package) and FILE are not the API
    api = "\n".join(v for k, v in sections.items() if k not in ("PACKAGE CONTENTS", "FILE"))
    assert "holm(" in api and "class SegCertifyResult" in api
    for internal in ("PackageNotFoundError", "_LAZY", "_Package", "TYPE_CHECKING", "_importlib",
                     "_version(", "_sys", "_types", "annotations = "):
        assert internal not in api, internal


def test_qvalue_is_the_function_whichever_import_comes_first():
    """``mtest.qvalue`` is both a submodule and a public function: the function wins, also when the
    submodule is imported first (directly or through another public name of that module)."""
    for first in ("import mtest.qvalue", "from mtest.qvalue import QValueResult", "mtest.QValueResult",
                  "from mtest import qvalue"):
        out = _run(f"import mtest\n{first}\nimport inspect\nprint(inspect.isfunction(mtest.qvalue))")
        assert out.returncode == 0 and out.stdout.strip() == "True", (first, out.stderr)


def test_registry_alone_knows_the_built_ins():
    out = _run("from mtest.registry import PROCEDURES, get_procedure\n"
               "print(get_procedure('BH').name, len(PROCEDURES))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["fdr_bh", str(len(mtest.PROCEDURES))]


def test_adapters_dir_shows_the_public_api_only():
    pytest.importorskip("torch")
    import mtest.adapters as ad

    assert dir(ad) == sorted(ad.__all__)
    assert "torch" not in dir(ad) and "sampler" not in dir(ad)


# --- CLI help -----------------------------------------------------------------------------------------

def _subparsers(parser):
    yield "mtest", parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"mtest {name}", sub


def test_every_cli_option_states_its_default():
    missing = []
    for prog, parser in _subparsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings or isinstance(action, (argparse._HelpAction,
                                                                argparse._VersionAction)):
                continue
            text = (action.help or "") % {"default": action.default}
            if "default" not in text.lower():
                missing.append(f"{prog} {'/'.join(action.option_strings)}")
            if action.required:
                assert "required" in text, f"{prog} {action.option_strings}: say it is required"
    assert not missing, f"options whose help does not state the default: {missing}"


def test_adjust_method_help_lists_every_registered_procedure(capsys):
    assert list(BUILTIN_METHODS) == list(mtest.PROCEDURES) or \
        set(mtest.registry._BUILTIN) == set(BUILTIN_METHODS)
    assert set(mtest.registry._BUILTIN) == set(BUILTIN_METHODS)
    from mtest.cli import main

    with pytest.raises(SystemExit):
        main(["adjust", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in BUILTIN_METHODS:
        assert name in text, name


# --- optional packages ----------------------------------------------------------------------------

def _blocked(modules, body: str) -> subprocess.CompletedProcess:
    """Run ``body`` in a fresh interpreter where ``import X`` fails for each X of ``modules``."""
    prelude = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    return _run(prelude + textwrap.dedent(body))


def test_require_names_the_package_and_the_extra():
    out = _blocked(["pandas"], """
    from mtest._optional import require
    try:
        require("pandas", "testing the message")
    except ImportError as exc:
        print(exc)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("testing the message needs the optional package 'pandas', which is "
                                  "not installed; install it with: pip install \"mtest[frames]\"")


@pytest.mark.parametrize("package, extra, body", [
    ("pandas", "frames", "import mtest; mtest.adjust_frame([[0.1]], 'p')"),
    ("pandas", "frames", "import mtest; mtest._records.Table([dict(a=1)]).to_pandas()"),
    ("pyarrow", "parquet", """
     import mtest, pathlib, tempfile
     d = pathlib.Path(tempfile.mkdtemp()); (d / 'a.parquet').write_bytes(b'PAR1')
     mtest.adjust_files(str(d / 'a.parquet'), str(d / 'out'), column='p')
     """),
    ("pandas", "frames", """
     import mtest, pathlib, tempfile
     d = pathlib.Path(tempfile.mkdtemp()); (d / 'a.csv').write_text('p\\n0.01\\n0.5\\n')
     mtest.adjust_files(str(d / 'a.csv'), str(d / 'out'), column='p')
     """),
])
def test_a_missing_extra_is_named(package, extra, body):
    import mtest._records  # noqa: F401  (the module the second case reaches through mtest)

    out = _blocked([package], "import mtest._records\ntry:\n" + textwrap.indent(textwrap.dedent(body), "    ")
                   + "\nexcept ImportError as exc:\n    print('IMPORT-ERROR', exc)\n")
    assert out.returncode == 0, out.stderr
    assert "IMPORT-ERROR" in out.stdout, out.stdout
    assert f"'{package}'" in out.stdout and f'pip install "mtest[{extra}]"' in out.stdout, out.stdout


def test_cli_parquet_without_pyarrow_names_the_extra(tmp_path):
    out = _blocked(["pyarrow"], f"""
    from mtest.cli import main
    (open({str(tmp_path / 'a.csv')!r}, 'w')).write('p\\n0.01\\n')
    print('rc', main(['adjust', {str(tmp_path / 'a.csv')!r}, '-o', {str(tmp_path / 'b.parquet')!r},
                      '--no-progress']))
    """)
    assert out.returncode == 0, out.stderr
    assert "rc 2" in out.stdout and 'pip install "mtest[parquet]"' in out.stderr, (out.stdout, out.stderr)


def test_progress_without_tqdm_runs_without_a_bar():
    out = _blocked(["tqdm"], """
    from mtest._optional import progress
    with progress(total=3, desc="x") as bar:
        for _ in range(3):
            bar.update()
    print(sum(progress(range(4), desc="y")), bar.n)
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["6", "3"] and out.stderr == ""


def test_core_features_without_pandas_tqdm_pyarrow(tmp_path):
    """numpy in, numpy out; CSV adjust with families (--by) in the CLI; no extra needed."""
    csv = tmp_path / "in.csv"
    csv.write_text("g,p\na,0.01\nb,0.02\na,0.03\nb,0.5\n")
    out = _blocked(["pandas", "tqdm", "pyarrow"], f"""
    import numpy as np, mtest
    from mtest.cli import main
    assert mtest.holm(np.array([0.01, 0.2])).n_rejected == 1
    assert main(['adjust', {str(csv)!r}, '-o', {str(tmp_path / 'out.csv')!r}, '--by', 'g']) == 0
    print(open({str(tmp_path / 'out.csv')!r}).read())
    """)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("4 rows in 2 groups: 3 rejected by holm")
    assert lines[1:6] == ["g,p,p_adjusted,reject", "a,0.01,0.02,true", "b,0.02,0.04,true",
                          "a,0.03,0.03,true", "b,0.5,0.5,false"]


@pytest.mark.parametrize("figure, header, shown", [
    ("2a", "figure,x,N,n_bad,gamma,", "SegCertifyHolm"),
    ("fdr", "figure,x,N,n_bad,gamma,", "SegCertifyBY (FDR)"),
    ("sequential", "input,rep,components,", "fixed-n SEGCERTIFY"),
    ("radius", "tau,radius,radius_map,separate_alpha_over_J,separate_alpha_each", "radius map vs"),
])
def test_mtest_power_runs_without_pandas_and_tqdm(tmp_path, figure, header, shown):
    out = _blocked(["pandas", "tqdm", "pyarrow"], f"""
    from mtest.cli import main
    assert main(['power', '--figure', {figure!r}, '--quick', '--reps', '2', '--out', {str(tmp_path)!r}]) == 0
    assert not any(m in sys.modules and sys.modules[m] is not None for m in ('pandas', 'tqdm'))
    """)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / f"fig{figure}.png").stat().st_size > 10_000
    assert (tmp_path / f"fig{figure}.csv").read_text().startswith(header)
    assert shown in out.stdout


@pytest.mark.parametrize("figure", ["2a", "2b", "2c", "kfwer"])
def test_power_csv_is_what_pandas_wrote(figure):
    """The study's CSV is byte for byte the one the pandas version wrote
    (``pd.DataFrame.from_records(rows).to_csv(index=False)``), and the columns agree."""
    pd = pytest.importorskip("pandas")
    from mtest.power import figure_spec, run_study

    table = run_study(figure_spec(figure, quick=True, reps=3), seed=5, progress=False)
    old = pd.DataFrame.from_records(table.rows)
    assert table.to_csv() == old.to_csv(index=False)
    for column in table.columns:
        np.testing.assert_array_equal(table[column], old[column].to_numpy())
    assert table.to_pandas().equals(old)


def test_table_csv_matches_pandas_on_awkward_values():
    pd = pytest.importorskip("pandas")
    from mtest._records import Table

    rows = [dict(a=1, b=0.1, c="x,y", d=True, e=None, f=np.float64(1e-300), g=np.nan, h=np.int64(7)),
            dict(a=2, b=1e16, c='q"uote', d=False, e=3, f=np.float64(2.5), g=1.0, h=np.int64(-1)),
            dict(a=3, b=float("nan"), c="", d=True, e=4.5, f=np.float32(0.1), g=float("inf"), h=0)]
    assert Table(rows).to_csv() == pd.DataFrame.from_records(rows).to_csv(index=False)


# --- compact reprs ----------------------------------------------------------------------------------

def _results_on_a_64x64_map(tmp_path):
    import warnings

    rng = np.random.default_rng(0)
    shape, n = (64, 64), 100
    count = rng.binomial(n, 0.95, shape)
    guess = rng.integers(0, 3, shape)
    p = rng.uniform(size=shape) ** 3
    probs = [0.8, 0.1, 0.05, 0.03, 0.02]
    counts, counts0 = rng.multinomial(n, probs, size=shape), rng.multinomial(10, probs, size=shape)
    H = mtest.DEMO_IMAGE_HIERARCHY
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mtest.CertificationWarning)
        out["SegCertifyResult"] = mtest.segcertify(guess, count, n=n, tau=0.75, alpha=0.001, sigma=0.25)
        out["SegCertifyResult (counts)"] = mtest.segcertify_counts(counts0, counts, tau=0.75, alpha=0.001)
        out["GuessCount"] = mtest.guess_and_count(counts0, counts)
        res = mtest.holm(p)
        res.pvalues_adjusted  # noqa: B018  (the lazily computed array must not show up either)
        out["MultipleTestResult"] = res
        out["ConfidenceInterval"] = mtest.clopper_pearson(count, n, 0.001)
        out["RowsResult"] = mtest.reject_table_rows(rng.uniform(size=101) ** 3, rng.integers(0, 101, shape))
        out["QValueResult"] = mtest.qvalue(p)
        out["PlanResult"] = mtest.plan_samples(N=4096, tau=0.75, alpha=0.001, p_true=0.99, target_rate=0.9)
        out["RadiusMapResult"] = mtest.segcertify_radius_map(guess, count, n=n, taus=[0.6, 0.75, 0.9],
                                                             alpha=0.001, sigma=0.25)
        out["CertifyResult"] = mtest.cohen_certify(guess, count, n=n, alpha=0.001, sigma=0.25)
        out["PredictResult"] = mtest.cohen_predict(counts, alpha=0.001)
        out["IndivClassResult"] = mtest.indiv_class(guess, count, n=n, alpha=0.001, sigma=0.25)
        out["JointClassResult"] = mtest.joint_class(rng.integers(0, 3, (10, *shape)),
                                                    rng.integers(0, 3, (100, *shape)), alpha=0.001)
        out["HierarchyCertifyResult"] = mtest.hierarchical_segcertify(counts0, counts, H, tau=0.75,
                                                                      alpha=0.001, sigma=0.25)
        out["CIGResult"] = mtest.certified_information_gain(rng.integers(0, 9, shape),
                                                            rng.integers(0, 5, shape), H)
        seq = mtest.SequentialCertifier(guess, tau=0.75, alpha=0.001, n_max=200, sigma=0.25)
        out["SequentialResult"] = seq.update(rng.binomial(50, 0.95, shape), 50).result()
    (tmp_path / "a.csv").write_text("p\n" + "\n".join(map(str, p.ravel())) + "\n")
    out["FilesResult"] = mtest.adjust_files(tmp_path / "a.csv", tmp_path / "out", progress=False)
    return out


def _assert_compact(name, obj):
    text = repr(obj)
    assert len(text) < 400 and text.count("\n") < 9, f"{name}: {len(text)} chars\n{text}"
    assert "array(" not in text and "tensor(" not in text and "..." not in text, f"{name}: {text}"


def test_result_reprs_are_short_summaries(tmp_path):
    results = _results_on_a_64x64_map(tmp_path)
    for name, obj in results.items():
        _assert_compact(name, obj)
    # every public result class of mtest is covered
    classes = {name for name in mtest.__all__ if name.endswith("Result") or name == "GuessCount"}
    assert classes <= {type(obj).__name__ for obj in results.values()} | {"BinomTestResult"}
    assert "guarantee=" in repr(results["SegCertifyResult"]) and "components=4096" in repr(results["GuessCount"])


def test_adapter_reprs_are_short_summaries():
    torch = pytest.importorskip("torch")
    import mtest.adapters as ad

    class Threshold(torch.nn.Module):
        def forward(self, x):
            return torch.stack([-x[:, 0], x[:, 0]], dim=1)

    sm = ad.SegmentationSmoother(Threshold(), ad.GaussianNoise(0.25), batch_size=64, progress=False)
    x = torch.rand(1, 64, 64) + 0.5
    run = sm.certify(x, n0=5, n=20, tau=0.6, alpha=0.01, seed=0)
    seq = ad.certify_sequential(sm, x, n0=5, tau=0.6, alpha=0.01, n_max=40, seed=0)
    for name, obj in [("Counts", sm.counts(x, n0=5, n=20, seed=0)), ("CertifyRun", run),
                      ("SequentialRun", seq)]:
        _assert_compact(name, obj)
