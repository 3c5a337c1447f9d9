"""Small inputs run on numpy and Python (``mtest._small``): no Numba kernel is compiled or loaded,
and every result is bitwise the Numba path's (forced on the same data by setting the thresholds
to 0)."""
import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import mtest
from mtest import _kernels, _small
from mtest.cli import main
from mtest.registry import PROCEDURES, get_procedure

METHODS = sorted(PROCEDURES)


def _numba_paths(mp):
    """Every threshold of ``mtest._small`` at 0: all inputs take the Numba paths."""
    mp.setattr(_small, "SMALL_BELOW", 0)
    mp.setattr(_small, "HOMMEL_BELOW", 0)
    mp.setattr(_small, "SMALL_TEXT_BYTES", 0)


def _both(fn):
    """(fn() on the small paths, fn() on the Numba paths); an exception is returned as
    (type, message)."""
    def call():
        try:
            return fn()
        except Exception as exc:  # the error itself must match too
            return (type(exc), str(exc))

    small = call()
    with pytest.MonkeyPatch.context() as mp:
        _numba_paths(mp)
        large = call()
    return small, large


def _same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        return a.tobytes() == b.tobytes() or (
            np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))
            and np.array_equal(np.isnan(a), np.isnan(b)))
    return np.array_equal(a, b)


def _assert_same_result(small, large):
    if isinstance(small, tuple) or isinstance(large, tuple):
        assert small == large
        return
    assert _same_bits(small.reject, large.reject)
    assert _same_bits(np.asarray(small.threshold, dtype=np.float64),
                      np.asarray(large.threshold, dtype=np.float64))
    assert np.array_equal(small.n_rejected, large.n_rejected)
    assert np.array_equal(small.n_tests, large.n_tests)
    assert _same_bits(small.pvalues_adjusted, large.pvalues_adjusted)


def _k_for(method, k, p):
    if not get_procedure(method).uses_k:
        return 1
    m = int(np.count_nonzero(~np.isnan(np.asarray(p, dtype=np.float64))))
    return max(1, min(k, m))


# ---------------------------------------------------------------------------------------------
# (1) nothing compiles: a fresh interpreter


_NO_KERNELS = textwrap.dedent("""
    import json, sys, tempfile, pathlib
    import numpy as np
    import mtest
    from mtest.cli import main
    from mtest.registry import PROCEDURES

    p = np.array([0.01, 0.04, 0.03, 0.005, 0.04, 1.0, 0.0, np.nan, 0.2])
    for name, proc in PROCEDURES.items():
        k = {"k": 2} if proc.uses_k else {}
        for values in (p, p.astype(np.float32)):
            res = mtest.reject(values, 0.05, name, nan_policy="omit", **k)
            res.pvalues_adjusted
            mtest.adjust(values, name, nan_policy="omit", alpha=0.05, **k)
            mtest.reject(np.vstack([values, values[::-1]]), 0.05, name, axis=1, nan_policy="omit",
                         **k).pvalues_adjusted
            mtest.adjust(np.vstack([values, values[::-1]]).T, name, axis=0, nan_policy="omit",
                         alpha=0.05, **k)
        with np.errstate(divide="ignore"):
            logs = np.log(p)
        mtest.reject(logs, 0.05, name, log_p="ln", nan_policy="omit", **k).pvalues_adjusted
        mtest.adjust(logs / np.log(10), name, log_p="log10", nan_policy="omit", alpha=0.05, **k)
    from mtest import compat
    for name in ("holm", "hommel", "fdr_bh", "fdr_tsbky", "hs"):
        compat.multipletests(p[:7], 0.05, method=name)
    for name in ("holm", "hochberg", "hommel", "BH", "BY"):
        compat.p_adjust(list(p), name)
    compat.false_discovery_control(np.vstack([p[:7], p[:7]]), axis=1)
    for fn in (mtest.holm, mtest.bonferroni, mtest.hochberg, mtest.hommel, mtest.benjamini_hochberg,
               mtest.benjamini_yekutieli, mtest.benjamini_krieger_yekutieli, mtest.sidak,
               mtest.holm_sidak, mtest.gavrilov_benjamini_sarkar):
        fn(p[:7]).pvalues_adjusted
    mtest.lehmann_romano(p[:7], k=2).pvalues_adjusted
    for bad in ([0.1, -0.5], [0.1, 1.5], [0.1, np.inf], [0.1, np.nan]):
        try:
            mtest.holm(bad)
        except ValueError:
            pass
        else:
            raise AssertionError(bad)
    try:
        import pandas as pd
    except ImportError:
        pass
    else:
        df = pd.DataFrame({"g": [1, 1, 2, 2, 2, 3, 3, 3, 3], "p": p})
        for name, proc in PROCEDURES.items():
            k = {"k": 1} if proc.uses_k else {}
            mtest.adjust_frame(df, "p", name, by="g", nan_policy="omit", **k)
            mtest.adjust_frame(df, "p", name, nan_policy="omit", **k)
    folder = pathlib.Path(sys.argv[1])
    rows = "".join(f"{i},{'ab'[i % 2]},{v}\\n" for i, v in enumerate([0.01, 0.04, 0.03, 0.005, 0.2]))
    (folder / "in.csv").write_text('id,g,p\\n' + rows + '9,"a, quoted",NA\\n')
    (folder / "in.tsv").write_text(rows.replace(",", "\\t").join(["id\\tg\\tp\\n", ""]))
    for method in ("holm", "hochberg", "hommel", "fdr_bh", "bonferroni"):
        for extra in ([], ["--by", "g"]):
            assert main(["adjust", str(folder / "in.csv"), "-o", str(folder / "out.csv"),
                         "--no-progress", "--method", method, "--nan-policy", "omit", *extra]) == 0
            assert main(["adjust", str(folder / "in.tsv"), "-o", str(folder / "out.tsv"),
                         "--no-progress", "--method", method, *extra]) == 0

    numba_imported = "numba" in sys.modules  # mtest._kernels is imported on first use only
    from numba.core.registry import CPUDispatcher
    compiled = sorted(f"{name}.{attr}" for name, module in list(sys.modules.items())
                      if name == "mtest" or name.startswith("mtest.")
                      for attr, value in vars(module).items()
                      if isinstance(value, CPUDispatcher) and value.signatures)
    print(json.dumps({"compiled": compiled, "numba imported": numba_imported}))
""")


def test_small_calls_compile_and_load_no_kernel(tmp_path):
    """holm/reject/adjust of every registered procedure (NaN omitted, float32, axis=, log_p=,
    bad input), the statsmodels/R/scipy drop-ins, adjust_frame (by=) and ``mtest adjust`` on a small CSV/TSV (--by) leave every Numba
    dispatcher of mtest without a compiled signature: nothing was compiled or loaded from the
    cache (an empty cache folder, so a compile would also show there); numba itself is not even
    imported (``mtest._lazy``: the kernels' module is imported on first use)."""
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", _NO_KERNELS, str(tmp_path)], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"compiled": [], "numba imported": False}
    assert not any(cache.rglob("*.nbi")), "a kernel was compiled into the cache"


# ---------------------------------------------------------------------------------------------
# (2) bitwise the Numba paths


_specials = [0.0, -0.0, 1.0, 0.5, 1e-12, 5e-324, 1e-300, 0.05, 0.025, 0.0125,
             float(np.nextafter(0.05, 1.0)), float(np.nextafter(0.05, 0.0)), float(np.nextafter(1.0, 0.0))]
_values = st.one_of(st.floats(0.0, 1.0), st.floats(0.0, 1e-6), st.sampled_from(_specials + [np.nan]))
_alphas = st.sampled_from([0.05, 0.01, 0.5, 1e-300, 5e-324, float(np.nextafter(1.0, 0.0)), 0.2, 0.999])


@settings(max_examples=150, deadline=None)
@given(values=st.lists(_values, min_size=0, max_size=60), method=st.sampled_from(METHODS),
       alpha=_alphas, k=st.integers(1, 5), float32=st.booleans(), ties=st.booleans())
def test_results_equal_the_numba_paths(values, method, alpha, k, float32, ties):
    p = np.array(values, dtype=np.float32 if float32 else np.float64)
    if ties and p.size:
        p = np.repeat(p, 3)
    k = _k_for(method, k, p)
    small, large = _both(lambda: mtest.reject(p, alpha, method, k=k, nan_policy="omit"))
    _assert_same_result(small, large)
    small, large = _both(lambda: mtest.adjust(p, method, k=k, alpha=alpha, nan_policy="omit"))
    assert small == large if isinstance(small, tuple) else _same_bits(small, large)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(_values, min_size=1, max_size=40), method=st.sampled_from(METHODS),
       alpha=_alphas, axis=st.sampled_from([0, 1, -1]), float32=st.booleans())
def test_axis_batches_equal_the_numba_paths(values, method, alpha, axis, float32):
    p = np.array(values * 3, dtype=np.float32 if float32 else np.float64).reshape(3, -1)
    small, large = _both(lambda: mtest.reject(p, alpha, method, axis=axis, nan_policy="omit"))
    _assert_same_result(small, large)
    small, large = _both(lambda: mtest.adjust(p, method, axis=axis, alpha=alpha, nan_policy="omit"))
    assert small == large if isinstance(small, tuple) else _same_bits(small, large)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(_values, min_size=0, max_size=40), method=st.sampled_from(METHODS),
       alpha=_alphas, k=st.integers(1, 3), log10=st.booleans())
def test_log_p_equals_the_numba_paths(values, method, alpha, k, log10):
    with np.errstate(divide="ignore"):
        logs = np.log10(np.array(values, dtype=np.float64)) if log10 else np.log(np.array(values))
    scale = "log10" if log10 else "ln"
    k = _k_for(method, k, values)
    small, large = _both(lambda: mtest.reject(logs, alpha, method, k=k, nan_policy="omit", log_p=scale))
    _assert_same_result(small, large)


@pytest.mark.parametrize("bad", [
    [0.1, -0.5, 0.2], [0.1, 1.5], [0.2, np.inf, -1.0], [np.nan, 0.2], [-np.inf], [0.3, 2.0, np.nan],
    ["a", 0.1], [[0.1, 0.2], [0.3]], np.ma.masked_array([0.1, 0.2], mask=[True, False]),
])
@pytest.mark.parametrize("method", ["holm", "bonferroni", "hommel", "fdr_bh"])
def test_errors_equal_the_numba_paths(bad, method):
    small, large = _both(lambda: mtest.reject(bad, 0.05, method))
    assert isinstance(small, tuple) and small == large
    small, large = _both(lambda: mtest.adjust(bad, method))
    assert isinstance(small, tuple) and small == large


@pytest.mark.parametrize("method", METHODS)
def test_edge_inputs_equal_the_numba_paths(method):
    k = 2 if get_procedure(method).uses_k else 1
    cases = [np.array([]), np.array([np.nan, np.nan]), np.zeros(5), np.ones(5), np.full(7, 0.01),
             np.array([0.0, -0.0, 0.0, 1.0, 1.0]), np.array(_specials), np.array(_specials, dtype=np.float32),
             np.linspace(0, 1, 101) ** 6]
    for p in cases:
        kk = _k_for(method, k, p)
        for alpha in (0.05, 5e-324, float(np.nextafter(1.0, 0.0))):
            small, large = _both(lambda: mtest.reject(p, alpha, method, k=kk, nan_policy="omit"))
            _assert_same_result(small, large)


def test_k_fwer_and_every_rank_equal_the_numba_paths():
    rng = np.random.default_rng(5)
    for trial in range(40):
        m = int(rng.integers(1, 3000))
        p = rng.random(m) ** rng.uniform(1, 12)
        p[rng.random(m) < 0.05] = np.nan
        p = np.round(p, int(rng.integers(2, 8)))  # ties
        for method in METHODS:
            k = _k_for(method, int(rng.integers(1, 9)), p)
            small, large = _both(lambda: mtest.reject(p, 0.05, method, k=k, nan_policy="omit"))
            _assert_same_result(small, large)


def test_hommel_port_is_the_kernel_bit_for_bit():
    rng = np.random.default_rng(8)
    for m in list(range(3, 40)) + [257, 1000, 4095]:
        for kind in range(4):
            p = [rng.random(m), rng.random(m) ** 8, np.round(rng.random(m), 2), np.full(m, 0.3)][kind]
            p = np.sort(p)
            assert _same_bits(_small.hommel_sorted(p), _kernels.hommel_sorted(p))


@settings(max_examples=200, deadline=None)
@example(raw=[-0.0, 0.0, -0.0, 0.5, 0.5, 0.0], cuts=[], mode=1, drop=0)
@example(raw=[0.0, -0.0, 0.0, 0.5, -0.0, 0.0], cuts=[], mode=2, drop=0)
@given(raw=st.lists(st.one_of(st.floats(0, 5), st.sampled_from([np.nan, np.inf, -0.0, 0.0, 1.0])),
                    min_size=0, max_size=40),
       cuts=st.lists(st.integers(0, 40), max_size=6), mode=st.sampled_from([0, 1, 2]),
       drop=st.integers(0, 3))
def test_family_kernels_ports_are_the_kernels(raw, cuts, mode, drop):
    raw = np.array(raw, dtype=np.float64)
    starts = np.unique(np.clip(np.array([0, raw.size] + cuts), 0, raw.size)).astype(np.int64)
    sizes = np.diff(starts)
    valid = np.maximum(sizes - drop, 0).astype(np.int64)
    a, b = raw.copy(), raw.copy()
    _small.segmented_adjust(a, starts, valid, mode, a)
    _kernels.segmented_adjust(b, starts, valid, mode, b)
    assert _same_bits(a, b)
    rng = np.random.default_rng(raw.size)
    n_keys = int(rng.integers(1, 6))
    key = rng.integers(0, n_keys, raw.size).astype(np.int64)
    order = rng.permutation(raw.size).astype(np.int64)
    for x, y in zip(_small.bucket_order(order, key, n_keys), _kernels.bucket_order(order, key, n_keys)):
        assert _same_bits(x, y)


_text = st.lists(st.sampled_from(list('a,,"""\n\r\t 1.5e-+0NA') + ["\r\n", "\xef\xbb\xbf"]),
                 max_size=80).map(lambda parts: "".join(parts).encode("latin-1"))


@settings(max_examples=400, deadline=None)
@given(text=_text, wanted=st.lists(st.integers(0, 4), max_size=3, unique=True),
       begin=st.integers(0, 5), strip=st.booleans())
def test_text_kernel_ports_are_the_kernels(text, wanted, begin, strip):
    buf = np.frombuffer(text, dtype=np.uint8)
    begin = min(begin, buf.size)
    wanted = np.array(sorted(wanted), dtype=np.int64)
    ours = _small.text_records(buf, begin, ord(","), ord('"'), wanted)
    theirs = _kernels.text_records(buf, begin, ord(","), ord('"'), wanted)
    assert ours[5] == theirs[5]
    for x, y in zip(ours[:5], theirs[:5]):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    if wanted.size == 0 or ours[0].size == 0:
        return
    a, b = ours[4][0, 0], ours[4][1, 0]
    outs = []
    for module in (_small, _kernels):
        out = np.zeros(int((b - a).sum()), dtype=np.uint8)
        offsets = np.zeros(a.size + 1, dtype=np.int64)
        used = module.gather_fields(buf, a, b, ord('"'), strip, out, offsets)
        status = np.zeros(a.size, dtype=np.int8)
        module.number_syntax(out[:used], offsets, status)
        outs.append((used, out[:used].tobytes(), offsets.tolist(), status.tolist()))
    assert outs[0] == outs[1]
    starts, ends, nexts = ours[0], ours[1], ours[2]
    row_of = np.where(ends > starts, np.arange(starts.size), -1).astype(np.int64)
    adj = np.frombuffer(b"0.25" * starts.size, dtype=np.uint8)
    adj_offsets = np.arange(starts.size + 1, dtype=np.int64) * 4
    reject = (np.arange(starts.size) % 2 == 0)
    written = []
    for module in (_small, _kernels):
        # as mtest._delimited sizes it: the records, the adjusted text, 7 bytes (,,false) a row
        out = np.zeros(buf.size + adj.size + 7 * starts.size, dtype=np.uint8)
        used = module.assemble_records(buf, starts, ends, nexts, row_of, adj, adj_offsets, reject,
                                       ord(","), out)
        written.append(out[:used].tobytes())
    assert written[0] == written[1]


def test_adjust_frame_equals_the_numba_paths():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(2)
    n = 500
    p = rng.random(n) ** 4
    p[rng.random(n) < 0.1] = np.nan
    p[::7] = p[3]
    df = pd.DataFrame({"g": rng.integers(0, 30, n), "h": rng.integers(0, 2, n), "p": p})
    for method in METHODS:
        for by in (None, "g", ["g", "h"]):
            small, large = _both(lambda: mtest.adjust_frame(df, "p", method, by=by, nan_policy="omit"))
            assert _same_bits(small["p_adjusted"].to_numpy(), large["p_adjusted"].to_numpy())
            assert np.array_equal(small["reject"].to_numpy(), large["reject"].to_numpy())


_CSV_CASES = {
    "plain": b"id,p\n1,0.01\n2,0.04\n3,0.03\n4,0.005\n",
    "crlf-bom-blank": b"\xef\xbb\xbfid,g,p\r\n1,a,0.01\r\n\r\n2,b,1e-3\r\n3,a, 0.5 \r\n4,b,\"0.2\"",
    "quoted": b'id,g,p\n1,"a, b",0.01\n2,"x ""y""",NA\n3,"a, b",.5\n4,"line\nbreak",1E-2\n',
    "missing": b"id,g,p\n1,a,\n2,a,nan\n3,b,N/A\n4,b,0.001\n5,a,-0\n6,b,+1e-5\n",
    "non-numeric": b"id,p\n1,0.01\n2,abc\n",
    "out-of-range": b"id,p\n1,0.01\n2,1.5\n",
    "ragged": b"id,g,p\n1,a,0.01\n2,a\n",
    "unclosed": b'id,g,p\n1,"a,0.01\n2,a,0.02\n',
    "blank-only": b"\n\n",
    "no-rows": b"id,g,p\n",
}


@pytest.mark.parametrize("case", sorted(_CSV_CASES))
@pytest.mark.parametrize("method", ["holm", "hommel", "fdr_bh", "bonferroni"])
def test_cli_adjust_equals_the_numba_paths(tmp_path, capsys, case, method):
    source = tmp_path / "in.csv"
    source.write_bytes(_CSV_CASES[case])
    for by in ([], ["--by", "g"]):
        if by and b",g," not in _CSV_CASES[case]:
            continue
        outputs = []
        for force in (False, True):
            target = tmp_path / "out.csv"
            target.unlink(missing_ok=True)
            with pytest.MonkeyPatch.context() as mp:
                if force:
                    _numba_paths(mp)
                code = main(["adjust", str(source), "-o", str(target), "--no-progress", "--method",
                             method, "--nan-policy", "omit", *by])
            captured = capsys.readouterr()
            stdout = re.sub(r"\(\d+\.\d+ s\)", "", captured.out)
            outputs.append((code, stdout, captured.err,
                            target.read_bytes() if target.exists() else None))
        assert outputs[0] == outputs[1]


# ---------------------------------------------------------------------------------------------
# (3) at the thresholds


@pytest.mark.parametrize("size", [_small.SMALL_BELOW - 1, _small.SMALL_BELOW])
@pytest.mark.parametrize("method", ["holm", "hochberg", "fdr_by", "lehmann-romano", "bonferroni"])
def test_at_the_size_threshold(monkeypatch, size, method):
    """Just below SMALL_BELOW the numpy path runs (no banded pass), at it the Numba path; both
    equal the other path forced on the same data."""
    from mtest._validation import COPY_BELOW

    assert _small.SMALL_BELOW <= COPY_BELOW  # a small input is copied, never fingerprinted
    rng = np.random.default_rng(size)
    p = rng.random(size) ** 6
    p[::11] = np.nan
    p[::13] = p[5]
    k = 3 if get_procedure(method).uses_k else 1
    banded = []
    real = _kernels.banded_scan
    monkeypatch.setattr(_kernels, "banded_scan", lambda *a: banded.append(1) or real(*a))
    res = mtest.reject(p, 0.05, method, k=k, nan_policy="omit")
    assert len(banded) == (0 if size < _small.SMALL_BELOW else 1)
    with pytest.MonkeyPatch.context() as mp:
        if size < _small.SMALL_BELOW:
            _numba_paths(mp)
        else:
            mp.setattr(_small, "SMALL_BELOW", size + 1)
        other = mtest.reject(p, 0.05, method, k=k, nan_policy="omit")
    _assert_same_result(res, other)
    assert np.array_equal(res.reject, res.pvalues_adjusted <= 0.05)


@pytest.mark.parametrize("m", [_small.HOMMEL_BELOW - 1, _small.HOMMEL_BELOW])
def test_hommel_at_its_threshold(m):
    p = np.random.default_rng(m).random(m) ** 3
    small, large = _both(lambda: mtest.adjust(p, "hommel"))
    assert _same_bits(small, large)


@pytest.mark.parametrize("extra", [-1, 0])
def test_cli_at_the_byte_threshold(tmp_path, monkeypatch, extra):
    """A file of SMALL_TEXT_BYTES - 1 bytes is scanned by the ports, one of SMALL_TEXT_BYTES by
    the kernels; the output is the same either way."""
    head, row = b"id,p\n", b"1,0.0123\n"
    size = _small.SMALL_TEXT_BYTES + extra
    body = row * ((size - len(head) - 16) // len(row))
    data = head + body + b"2," + b"0" * (size - len(head) - len(body) - 3) + b"\n"  # p = 0
    assert len(data) == size
    source = tmp_path / "in.csv"
    source.write_bytes(data)
    calls = []
    real = _kernels.text_records
    monkeypatch.setattr(_kernels, "text_records", lambda *a: calls.append(1) or real(*a))
    outputs = []
    for force in (False, True):
        with pytest.MonkeyPatch.context() as mp:
            if force:
                _numba_paths(mp)
            assert main(["adjust", str(source), "-o", str(tmp_path / f"o{force}.csv"), "--no-progress"]) == 0
        outputs.append((tmp_path / f"o{force}.csv").read_bytes())
        if not force:
            # the header probe reads a 64 KiB prefix (ported); the whole file decides the rest
            assert bool(calls) == (extra == 0)
    assert outputs[0] == outputs[1]
