"""Power studies (quick grids) reproduce the paper's qualitative results; planner vs simulation."""
import numpy as np
import pandas as pd
import pytest

import mtest
from mtest.cli import main
from mtest.oracle import Oracle
from mtest.power import figure_spec, plot_study, run_study


@pytest.fixture(scope="module")
def fig2a():
    spec = figure_spec("2a", quick=True, reps=200)
    return spec, run_study(spec, seed=1, progress=False).to_pandas()


def _rate(df, method, x):
    row = df[(df.method == method) & np.isclose(df.x, x)]
    assert len(row) == 1
    return row.iloc[0]


def test_fig2a_qualitative(fig2a):
    spec, df = fig2a
    for m in df.method.unique():
        assert _rate(df, m, 0.0).certified_rate == 1.0  # gamma = 0: everything certified
    # JointClass fails almost at once, SegCertifyHolm stays high at gamma = 0.05
    assert _rate(df, "JointClass", 0.05).certified_rate < 0.05
    assert _rate(df, "SegCertifyHolm", 0.05).certified_rate > 0.9
    # IndivClass is all or nothing and fails once 1 - 5 gamma cannot be certified above 1/2
    assert _rate(df, "IndivClass", 0.08).certified_rate < 0.05


def test_holm_at_least_bonferroni_in_every_cell(fig2a):
    _, df = fig2a
    holm = df[df.method == "SegCertifyHolm"].set_index("x").certified_rate
    bon = df[df.method == "SegCertifyBon"].set_index("x").certified_rate
    assert (holm >= bon).all()


def test_errors_within_alpha_budget(fig2a):
    spec, df = fig2a
    reps = spec.reps
    # error events (any certified true null) happen with probability <= alpha per repetition
    bound = spec.alpha + 3 * np.sqrt(spec.alpha * (1 - spec.alpha) / reps) + 1.0 / reps
    assert (df.error_event_rate <= bound).all()
    assert (df.wrong_rate <= bound).all()


def test_fig2b_more_samples_rescue_segcertify():
    spec = figure_spec("2b", quick=True, reps=30)
    df = run_study(spec, seed=2, progress=False).to_pandas()
    for m in ("SegCertifyHolm", "SegCertifyBon"):
        assert _rate(df, m, 0.1).certified_rate >= 0.98  # 0.99 is the ideal once one must abstain
    assert _rate(df, "IndivClass", 0.1).certified_rate < 0.05


def test_fig2c_gap_grows_with_N():
    spec = figure_spec("2c", quick=True, reps=4)
    df = run_study(spec, seed=3, progress=False).to_pandas()
    gap = (df[df.method == "SegCertifyHolm"].set_index("x").certified_rate
           - df[df.method == "SegCertifyBon"].set_index("x").certified_rate)
    assert (gap >= 0).all()
    assert gap.loc[10_000] > gap.loc[100]


def test_kfwer_larger_k_certifies_more():
    spec = figure_spec("kfwer", quick=True, reps=4)
    df = run_study(spec, seed=4, progress=False).to_pandas()
    sub = df[(df.x == 10_000) & (df.alpha == 0.001)].sort_values("fwer_k")
    assert np.all(np.diff(sub.certified_rate.to_numpy()) >= 0)
    assert set(sub.fwer_k) == {1, 2, 3, 5, 10, 100}
    assert "SegCertifyLR(k=N/100, α=0.001)" in set(sub.method)


def test_plot_and_csv(tmp_path, fig2a):
    spec, df = fig2a
    png = plot_study(df, spec, tmp_path / "f.png")
    assert png.stat().st_size > 10_000
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_power_quick(tmp_path, capsys):
    assert main(["power", "--figure", "2c", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "SegCertifyHolm" in out and "| method |" in out
    df = pd.read_csv(tmp_path / "fig2c.csv")
    assert {"certified_rate", "wrong_rate", "mean_radius", "error_event_rate"} <= set(df.columns)
    assert (tmp_path / "fig2c.png").exists()


def _is_png(path):
    with open(path, "rb") as fh:
        return fh.read(8) == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_cli_power_sequential_figure(tmp_path, capsys):
    assert main(["power", "--figure", "sequential", "--quick", "--reps", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| input | fixed n |" in out and "samples to match" in out
    df = pd.read_csv(tmp_path / "figsequential.csv")
    assert set(df.fixed_n) == {100, 200, 500, 1000} and _is_png(tmp_path / "figsequential.png")
    oracle = df[df.input.str.startswith("oracle")]
    # on the oracle every component is certified early: the default stop beats a fixed n of 200
    assert (oracle.seq_stop_certified == 1.0).all() and (oracle.seq_stop_samples < 200).all()
    # samples to match never exceed n_max, and a match certifies at least the fixed-n fraction
    assert (df.seq_samples_to_match.dropna() <= 1000).all()


def test_stream_savings_matches_its_definition():
    from mtest.certification_study import SequentialSettings, stream_savings

    s = SequentialSettings(fixed_n=(100, 200), n_max=200)
    rounds = np.random.default_rng(4).binomial(10, np.r_[np.full(90, 0.999), np.full(10, 0.8)], size=(20, 100))
    rows, curve = stream_savings(rounds, s)
    cum = rounds.cumsum(axis=0)
    for row in rows:
        fixed = mtest.segcertify(np.zeros(100, int), cum[row["fixed_n"] // 10 - 1], n=row["fixed_n"],
                                 tau=0.75, alpha=0.001)
        assert row["fixed_certified"] == fixed.n_certified / 100
        reach = row["seq_samples_to_match"]
        if reach is not None:
            seq = mtest.SequentialCertifier(np.zeros(100, int), tau=0.75, alpha=0.001, n_max=200, futility=None)
            for r in rounds[: reach // 10]:
                seq.update(r, 10)
            assert seq.result().n_certified >= fixed.n_certified
            if reach > 10:  # and it is the first round that does
                assert dict(curve)[reach - 10] * 100 < fixed.n_certified


def test_cli_power_radius_figure(tmp_path, capsys):
    assert main(["power", "--figure", "radius", "--quick", "--out", str(tmp_path)]) == 0
    assert "radius map" in capsys.readouterr().out
    df = pd.read_csv(tmp_path / "figradius.csv")
    assert _is_png(tmp_path / "figradius.png") and len(df) == 11
    # simultaneous claims cost something against one run per tau at alpha each, never gain
    assert (df.radius_map <= df.separate_alpha_each + 1e-12).all()
    assert (np.diff(df.radius_map) <= 1e-12).all()          # certified fraction falls with radius


def test_cli_power_fdr_figure(tmp_path, capsys):
    assert main(["power", "--figure", "fdr", "--quick", "--reps", "30", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    assert "SegCertifyBY (FDR)" in capsys.readouterr().out
    df = pd.read_csv(tmp_path / "figfdr.csv")
    rate = df.pivot_table(index="x", columns="method", values="certified_rate")
    # near the threshold (gamma = 0.08: p = 0.92 against tau = 0.75, n = 100) BY certifies more
    assert rate.loc[0.08, "SegCertifyBY (FDR)"] > rate.loc[0.08, "SegCertifyHolm"] + 0.1
    assert (df.false_certified_proportion <= df.alpha + 0.05).all() and _is_png(tmp_path / "figfdr.png")


# --- planner ------------------------------------------------------------------------------------------

def test_plan_matches_simulation():
    N, tau, alpha, p, target = 200, 0.75, 0.001, 0.93, 0.9
    plan = mtest.plan_samples(N, tau, alpha, p, target, n0=50)
    assert plan.expected_rate >= target and plan.exact
    rng = np.random.default_rng(5)
    o = Oracle(N=N, n_bad=0, gamma=1 - p)
    d = o.sample_counts(n0=50, n=plan.n, reps=3000, seed=rng)
    table = mtest.binom_pvalue_table(plan.n, tau)
    rows = mtest.reject_table_rows(table, d.count, alpha, "bonferroni")
    certified = (table[d.count] <= rows.threshold[:, None]) & (d.guess == 1)
    sim = certified.mean()
    assert abs(sim - plan.expected_rate) < 4 * np.sqrt(plan.expected_rate * (1 - plan.expected_rate) / (3000 * N)) + 1e-3
    # the smallest such n: no smaller n reaches the target
    for n in range(max(1, plan.n - 30), plan.n):
        try:
            smaller = mtest.plan_samples(N, tau, alpha, p, target, n0=50, n_max=n)
        except ValueError:
            continue
        pytest.fail(f"n={smaller.n} < {plan.n} also reaches the target")
    # Holm: the Bonferroni rate is a lower bound of Holm's simulated rate
    holm = mtest.reject_table_rows(table, d.count, alpha, "holm")
    holm_rate = ((table[d.count] <= holm.threshold[:, None]) & (d.guess == 1)).mean()
    assert holm_rate >= sim - 1e-12
    assert not mtest.plan_samples(N, tau, alpha, p, target, method="holm").exact


def test_plan_errors_and_cli(capsys):
    with pytest.raises(ValueError, match="target_rate 0.99 is unreachable"):
        mtest.plan_samples(100, 0.9, 0.01, [0.95] * 50 + [0.5] * 50, 0.99)
    with pytest.raises(ValueError, match=r"p_true must be one value or N=10 values; got 3"):
        mtest.plan_samples(10, 0.9, 0.01, [0.95, 0.96, 0.97], 0.5)
    with pytest.raises(ValueError, match=r"tau must lie in \[0.5, 1.0\)"):
        mtest.plan_samples(10, 0.2, 0.01, 0.95, 0.5)
    assert main(["plan", "--N", "100", "--tau", "0.75", "--alpha", "0.001", "--p-true", "0.95",
                 "--target", "0.9"]) == 0
    assert "n = " in capsys.readouterr().out
    assert main(["plan", "--N", "100", "--tau", "0.75", "--alpha", "0.001", "--p-true", "0.7",
                 "--target", "0.9"]) == 2


@pytest.mark.parametrize("figure", ["sequential", "radius", "fdr", "2a"])
@pytest.mark.parametrize("reps", ["0", "-1"])
def test_power_refuses_nonpositive_reps_for_every_figure(tmp_path, capsys, figure, reps):
    # --reps 0 was taken as "not given" by the toy-oracle figures and ran one repetition
    assert main(["power", "--figure", figure, "--quick", "--reps", reps, "--out", str(tmp_path)]) != 0
    assert f"reps must be an integer >= 1; got {reps}" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))
