"""mtest._lazy: the kernels' module is imported on first use, once, from any thread, and
writes through a proxy patch the real module."""
import subprocess
import sys
import textwrap

from mtest._lazy import LazyModule


def test_first_use_from_many_threads_imports_once_and_writes_reach_the_module():
    script = textwrap.dedent("""
        import sys, threading
        from mtest._lazy import LazyModule
        assert "json.tool" not in sys.modules
        proxy = LazyModule("json.tool")
        seen = []
        start = threading.Barrier(8)
        def use():
            start.wait()
            seen.append(proxy.main)
        threads = [threading.Thread(target=use) for _ in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        import json.tool as real
        assert all(f is real.main for f in seen), seen
        proxy.EXTRA = 5
        assert real.EXTRA == 5
        del proxy.EXTRA
        assert not hasattr(real, "EXTRA")
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_monkeypatch_through_the_proxy_patches_what_every_caller_sees(monkeypatch):
    from mtest import _kernels, _stepwise

    assert isinstance(_stepwise._kernels, LazyModule)
    monkeypatch.setattr(_stepwise._kernels, "PARALLEL_MIN", 7)
    assert _kernels.PARALLEL_MIN == 7
    monkeypatch.undo()
    assert _kernels.PARALLEL_MIN != 7


def test_importing_mtest_and_a_small_call_do_not_import_numba():
    script = ("import sys, numpy as np, mtest; r = mtest.holm(np.linspace(0.001, 0.5, 200)); "
              "r.pvalues_adjusted; mtest.adjust(np.linspace(0.001, 0.5, 200), 'fdr_bh'); "
              "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
