"""Threads and processes (issue 12, item 5): mtest's parallel kernels under a fork pool after
the parent used them, a spawn pool, and several threads at once. Each scenario runs in a fresh
interpreter with a timeout, so a hang fails the test instead of blocking CI."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

#: large enough for the parallel kernels (PARALLEL_MIN = 200_000) and the two-thread sorts
SIZE = 400_000

_SETUP = f"""
import numpy as np, mtest
rng = np.random.default_rng(0)
p = rng.uniform(size={SIZE})
p[:{SIZE} // 50] *= 1e-7
count = rng.binomial(100, 0.97, size=(500, 500))
guess = rng.integers(0, 5, size=count.shape)

def work(i):
    q = np.roll(p, i)
    return (mtest.holm(q).n_rejected, mtest.adjust(q, "holm"), mtest.adjust(q, "fdr_bh"),
            mtest.segcertify(guess, count, n=100, tau=0.9, alpha=0.001).labels)

def same(a, b):
    return a[0] == b[0] and all(np.array_equal(x, y) for x, y in zip(a[1:], b[1:]))
"""


def _run(code: str, layer: str | None, timeout: float = 300) -> str:
    env = dict(os.environ)
    env.pop("NUMBA_THREADING_LAYER", None)
    if layer is not None:
        env["NUMBA_THREADING_LAYER"] = layer
    try:
        out = subprocess.run([sys.executable, "-c", _SETUP + textwrap.dedent(code)], env=env,
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung: no result within {timeout} s (threading layer {layer or 'default'})")
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


#: None: mtest's choice (TBB where installed); 'workqueue': the fallback without TBB
LAYERS = [None, "workqueue"]


def test_default_layer_is_fork_and_thread_safe():
    out = _run("""
        import numba
        from mtest import _threading
        mtest.holm(p)
        print(numba.threading_layer(), _threading.needs_lock())
    """, None)
    layer, locked = out.split()
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("tbb")
    except PackageNotFoundError:
        assert (layer, locked) == ("workqueue", "True")
    else:
        assert (layer, locked) == ("tbb", "False")


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_pool_after_parallel_use(context, layer):
    if context == "fork" and sys.platform == "win32":
        pytest.skip("no fork on Windows")
    out = _run(f"""
        import multiprocessing as mp
        from functools import partial
        if __name__ == "__main__":
            expected = [work(i) for i in range(3)]  # the parent runs the parallel kernels first
            with mp.get_context("{context}").Pool(2) as pool:
                results = pool.starmap(mtest.adjust, [(np.roll(p, i), "holm") for i in range(3)])
                results_bh = pool.starmap(mtest.adjust, [(np.roll(p, i), "fdr_bh") for i in range(3)])
            ok = all(np.array_equal(r, e[1]) for r, e in zip(results, expected))
            ok &= all(np.array_equal(r, e[2]) for r, e in zip(results_bh, expected))
            print(ok)
    """, layer)
    assert out.split() == ["True"]


@pytest.mark.parametrize("layer", LAYERS)
def test_fork_pool_children_run_every_kernel(layer):
    # a forked child calls holm, adjust and segcertify itself (work runs in the child)
    out = _run("""
        import multiprocessing as mp
        expected = [work(i) for i in range(2)]
        with mp.get_context("fork").Pool(2) as pool:
            results = pool.map(work, range(2))
        print(all(same(r, e) for r, e in zip(results, expected)))
    """, layer)
    assert out.split() == ["True"]


@pytest.mark.parametrize("layer", LAYERS)
def test_concurrent_threads(layer):
    # 6 threads at once on large inputs; each result equals the one computed alone
    out = _run("""
        from concurrent.futures import ThreadPoolExecutor
        expected = [work(i) for i in range(6)]
        for _ in range(2):
            with ThreadPoolExecutor(6) as pool:
                results = list(pool.map(work, range(6)))
            assert all(same(r, e) for r, e in zip(results, expected))
        print("ok")
    """, layer)
    assert out.split() == ["ok"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_promptly():
    # a long run of large computations: SIGINT must end it within seconds with KeyboardInterrupt
    code = _SETUP + textwrap.dedent("""
        import sys
        big = np.random.default_rng(1).uniform(size=4_000_000)
        mtest.adjust(big[:300_000], "hommel"); mtest.adjust(big[:300_000], "fdr_bh")
        print("ready", flush=True)
        while True:
            mtest.adjust(big, "hommel")
            mtest.adjust(big, "fdr_bh")
    """)
    # SIGINT at its default in the child even where the test runner was started in the
    # background by a shell, which ignores SIGINT (and the child would inherit that)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=60)
        waited = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "KeyboardInterrupt" in err, err[-2000:]
    assert waited < 60
