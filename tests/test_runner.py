"""Dataset runner: Table 1 scores from one confusion matrix, one sampling pass per n, resumable after
SIGKILL, torchrun shards, point-cloud options, and the ``mtest certify`` command."""
import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import mtest
import mtest.adapters as ad
from mtest.adapters.runner import _input_seed
from mtest.cli import main
from test_adapters import run_doctests

pytest.importorskip("pyarrow")

#: the columns that depend on the samples, not on timings or on which process ran the input
SAMPLED = ["input_id", "setting", "n0", "n", "tau", "method", "radius", "certified", "abstained", "correct",
           "count_mean", "count_min", "count_all", "joint_count", "confusion"]


class Images(torch.utils.data.Dataset):
    """Random 8x8 images; the label is class 1 where channel 0 exceeds 0.5."""

    def __init__(self, count=3, side=8):
        self.count, self.side = count, side

    def __len__(self):
        return self.count

    def __getitem__(self, i):
        x = torch.rand(3, self.side, self.side, generator=torch.Generator().manual_seed(100 + i))
        return x, (x[0] > 0.5).long()


class Sign(nn.Module):
    def forward(self, x):
        v = x[:, 0] - 0.5
        return torch.stack([-v, v], dim=1)


class CountingNoise:
    radius_unit = "ℓ2"

    def __init__(self, sigma):
        self.inner, self.calls = ad.GaussianNoise(sigma), 0

    def __repr__(self):
        return f"CountingNoise({self.inner.sigma})"

    def sample(self, x, generator):
        self.calls += 1
        return self.inner.sample(x, generator)

    def radius(self, p):
        return self.inner.radius(p)


def _sampled(df):
    df = df[SAMPLED].copy()
    df["confusion"] = df["confusion"].map(lambda v: tuple(int(c) for c in v))
    return df.reset_index(drop=True)


def test_summary_is_table1_of_direct_certification_and_one_pass_per_n(tmp_path):
    """Differential: the summary equals dataset_metrics over labels certified input by input with
    the same seeds; every (tau, method) comes from one sampling pass per n."""
    data, noise = Images(3), CountingNoise(0.1)
    grid = dict(n0=8, n=[50, 100], tau=[0.75, 0.8], method=["holm", "bonferroni"], alpha=0.001)
    run = ad.certify_dataset(Sign(), noise, data, num_classes=2, out=tmp_path, batch_size=40, device="cpu",
                             progress=False, **grid)
    assert noise.calls == 3 * ((8 + 50) + (8 + 100))  # recertified, never resampled, for every tau and method
    assert run.computed == 3 and run.skipped == 0 and run.world_size == 1
    assert len(run.results) == 3 * (1 + 2 * 2 * 2)
    smoother = ad.SegmentationSmoother(Sign(), ad.GaussianNoise(0.1), batch_size=40, progress=False)
    targets = [data[i][1].numpy() for i in range(3)]
    for n in (50, 100):
        runs = [smoother.certify(data[i][0], n0=8, n=n, tau=0.75, alpha=0.001, seed=_input_seed(0, i))
                for i in range(3)]
        for tau in (0.75, 0.8):
            for method in ("holm", "bonferroni"):
                labels = [r.recertify(tau, 0.001, method=method).labels for r in runs]
                want = ad.dataset_metrics(labels, targets, 2)
                row = run.summary.query("n == @n and tau == @tau and method == @method").iloc[0]
                assert (row.acc, row.miou, row.abstain) == (want.accuracy, want.miou, want.abstain_rate)
                assert row.radius == pytest.approx(0.1 * 0.6744897501960817 if tau == 0.75 else 0.1 * 0.8416212335729143)
    base = run.summary.query("setting == 'base model'").iloc[0]
    clean = [smoother.predict(data[i][0]) for i in range(3)]
    assert base.acc == ad.dataset_metrics(clean, targets, 2).accuracy == 1.0
    stored = pd.read_parquet(tmp_path / "results.parquet")
    assert _sampled(stored).equals(_sampled(run.results))
    assert (tmp_path / "summary.md").read_text().startswith("| setting | n | τ | FWER | R | acc | mIoU |")
    assert pd.read_csv(tmp_path / "summary.csv").shape[0] == len(run.summary) == 9
    assert ad.summarize(tmp_path / "results.parquet").equals(run.summary)


def test_resume_skips_finished_inputs_and_refuses_other_settings(tmp_path):
    kwargs = dict(num_classes=2, n0=8, n=50, tau=0.75, batch_size=58, device="cpu", progress=False)
    full = ad.certify_dataset(Sign(), ad.GaussianNoise(0.1), Images(4), out=tmp_path / "full", **kwargs)
    first = ad.certify_dataset(Sign(), ad.GaussianNoise(0.1), Images(4), out=tmp_path / "part", limit=2, **kwargs)
    assert (first.computed, first.skipped, len(first.results)) == (2, 0, 4)
    noise = CountingNoise(0.1)
    with pytest.raises(ValueError, match=r"other settings \(noise: "):
        ad.certify_dataset(Sign(), noise, Images(4), out=tmp_path / "part", **kwargs)
    rest = ad.certify_dataset(Sign(), ad.GaussianNoise(0.1), Images(4), out=tmp_path / "part", **kwargs)
    assert (rest.computed, rest.skipped) == (2, 2)
    assert _sampled(rest.results).equals(_sampled(full.results))
    with pytest.raises(ValueError, match=r"alpha: 0.001 before, 0.01 now"):
        ad.certify_dataset(Sign(), ad.GaussianNoise(0.1), Images(4), out=tmp_path / "part",
                           **dict(kwargs, alpha=0.01))
    other = Sign()
    other.register_buffer("w", torch.ones(1))
    with pytest.raises(ValueError, match="model: "):
        ad.certify_dataset(other, ad.GaussianNoise(0.1), Images(4), out=tmp_path / "part", **kwargs)
    # wrappers without weights of their own still count: other scales are another model
    ad.certify_dataset(ad.MultiScale(Sign(), scales=(1.0,)), ad.GaussianNoise(0.1), Images(1),
                       out=tmp_path / "ms", **kwargs)
    with pytest.raises(ValueError, match="model: "):
        ad.certify_dataset(ad.MultiScale(Sign(), scales=(0.5, 1.0)), ad.GaussianNoise(0.1), Images(1),
                           out=tmp_path / "ms", **kwargs)


KILLABLE = '''
import sys, time
from pathlib import Path
import torch
import mtest.adapters as ad

STATE = {"index": None, "slow": False, "marker": None}


class Data(torch.utils.data.Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        STATE["index"] = i
        x = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(i))
        return x, (x[0] > 0.5).long()


class Model(torch.nn.Module):
    def forward(self, x):
        if STATE["slow"] and STATE["index"] == 3:
            Path(STATE["marker"]).write_text("sampling input 3")
            time.sleep(600)  # killed here, in the middle of input 3's sampling
        v = x[:, 0] - 0.5
        return torch.stack([-v, v], 1)


def run(out):
    return ad.certify_dataset(Model(), ad.GaussianNoise(0.1), Data(), num_classes=2, out=out, n0=8,
                              n=[50, 100], tau=[0.75, 0.8], batch_size=20, device="cpu", progress=False)


if __name__ == "__main__":
    STATE.update(slow=sys.argv[2] == "1", marker=sys.argv[3])
    result = run(sys.argv[1])
    print(f"computed {result.computed} skipped {result.skipped}")
'''


def test_sigkill_mid_input_loses_only_that_input(tmp_path):
    script = tmp_path / "killable.py"
    script.write_text(textwrap.dedent(KILLABLE))
    out, marker = tmp_path / "out", tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, str(script), str(out), "1", str(marker)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never reached input 3"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    parts = sorted(p.name for p in (out / "parts").iterdir())
    assert parts == [f"input-{i:08d}.parquet" for i in range(3)]  # inputs 0-2 finished, 3 lost
    assert not (out / "results.parquet").exists()
    kept = {p: (out / "parts" / p).stat().st_mtime_ns for p in parts}
    # a process killed while writing leaves a temporary file: the rerun must ignore and remove it
    (out / "parts" / ".input-00000003.parquet.rank0.tmp").write_bytes(b"half a parquet file")
    rerun = subprocess.run([sys.executable, str(script), str(out), "0", str(marker)], capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "computed 2 skipped 3" in rerun.stdout
    assert {p: (out / "parts" / p).stat().st_mtime_ns for p in parts} == kept  # not recomputed
    assert not list((out / "parts").glob("*.tmp"))
    # identical to an uninterrupted run
    spec = importlib.util.spec_from_file_location("killable", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    reference = module.run(tmp_path / "reference")
    resumed = pd.read_parquet(out / "results.parquet")
    assert _sampled(resumed).equals(_sampled(reference.results))
    assert sorted(resumed["input_id"].unique()) == [0, 1, 2, 3, 4]


def test_torchrun_two_gloo_processes_match_one_process(tmp_path):
    """The CLI under torchrun: 2 CPU processes (gloo) shard the inputs, each writes its own parts,
    rank 0 merges; the rows equal a single-process run's. ``--`` ends torchrun's own options (its
    parser would take ``--n`` for an abbreviation of ``--nnodes``)."""
    args = ["certify", "--model", "demo-pointclouds", "--count", "5", "--points", "128", "--noise", "rotation",
            "--sigma", "0.25", "--n0", "10", "--n", "60", "--tau", "0.75", "0.8", "--batch-size", "35",
            "--device", "cpu", "--no-progress"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "mtest.cli",
           "--", *args, "--out", str(tmp_path / "two")]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=420, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "5 inputs certified now, 0 found finished" in proc.stdout and "2 processes" in proc.stdout
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    two = pd.read_parquet(tmp_path / "two" / "results.parquet")
    one = pd.read_parquet(tmp_path / "one" / "results.parquet")
    assert sorted(two["rank"].unique()) == [0, 1] and set(one["rank"]) == {0}
    assert sorted(two.groupby("input_id")["rank"].first()) == [0, 0, 0, 1, 1]
    assert _sampled(two).equals(_sampled(one))
    assert (tmp_path / "two" / "summary.md").read_text().splitlines()[2:] != []


# --- point clouds: which features the noise touches ------------------------------------------------

class CloudModel(nn.Module):
    """Per-point logits from all 6 features (B, P, 6) -> (B, 2, P); records what it sees."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        v = x[..., 2] + 0.1 * x[..., 5]
        return torch.stack([-v, v], dim=1)


class Clouds(torch.utils.data.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        gen = torch.Generator().manual_seed(i)
        xyz = torch.randn(64, 3, generator=gen)
        normals = nn.functional.normalize(torch.randn(64, 3, generator=gen), dim=1)
        return torch.cat([xyz, normals], dim=1), (xyz[:, 2] > 0).long()


def test_point_clouds_perturb_only_coordinates(tmp_path):
    model = CloudModel()
    run = ad.certify_dataset(model, ad.GaussianNoise(0.05, features=range(3)), Clouds(), num_classes=2,
                             out=tmp_path, n0=10, n=50, batch_size=30, device="cpu", progress=False)
    clean = [Clouds()[i][0] for i in range(2)]
    noisy = [batch for batch in model.seen if batch.shape[0] > 1]
    assert noisy and all(any(torch.equal(b[:, :, 3:], c[:, 3:].expand(b.shape[0], -1, -1)) for c in clean)
                         for b in noisy)  # normals never perturbed
    assert all(not torch.equal(b[:, :, :3], c[:, :3].expand(b.shape[0], -1, -1)) for b in noisy for c in clean)
    assert "features=(0, 1, 2)" in run.results["noise"].iloc[0]


def test_point_clouds_rotation_turns_normals_with_points(tmp_path):
    model = CloudModel()
    run = ad.certify_dataset(model, ad.RotationNoise(0.3, vector_groups=[(0, 3), (3, 6)]), Clouds(),
                             num_classes=2, out=tmp_path, n0=10, n=50, batch_size=30, device="cpu", progress=False)
    clean = Clouds()[0][0].double()
    first = [b for b in model.seen if b.shape[0] > 1][0].double()  # input 0's first noisy batch
    for cloud in first:
        rot = torch.linalg.lstsq(clean[:, :3], cloud[:, :3]).solution  # xyz_noisy = xyz @ rot
        assert torch.allclose(cloud[:, 3:], clean[:, 3:] @ rot, atol=1e-5)  # the normals turned with it
        assert not torch.allclose(rot, torch.eye(3, dtype=rot.dtype), atol=1e-3)
    assert run.summary.query("setting == 'SEGCERTIFY'")["radius_unit"].iloc[0] == "rad"
    with pytest.raises(ValueError, match="vector_groups"):
        ad.certify_dataset(CloudModel(), ad.RotationNoise(0.3), Clouds(), num_classes=2, out=tmp_path / "x",
                           n0=10, n=50, device="cpu", progress=False)


def test_fdr_run_equals_direct_fdr_certification(tmp_path):
    data, noise = Images(2), CountingNoise(0.1)
    run = ad.certify_dataset(Sign(), noise, data, num_classes=2, out=tmp_path, n0=8, n=50, tau=[0.75, 0.8],
                             batch_size=40, device="cpu", progress=False, error_rate="fdr")
    assert set(run.results.query("setting == 'SEGCERTIFY'").method) == {"fdr_by"}
    smoother = ad.SegmentationSmoother(Sign(), ad.GaussianNoise(0.1), batch_size=40, progress=False)
    targets = [data[i][1].numpy() for i in range(2)]
    runs = [smoother.certify(data[i][0], n0=8, n=50, tau=0.75, alpha=0.001, seed=_input_seed(0, i),
                             error_rate="fdr") for i in range(2)]
    for tau in (0.75, 0.8):
        labels = [r.recertify(tau, 0.001, error_rate="fdr").labels for r in runs]
        want = ad.dataset_metrics(labels, targets, 2)
        row = run.summary.query("tau == @tau").iloc[0]
        assert (row.acc, row.miou, row.abstain) == (want.accuracy, want.miou, want.abstain_rate)
    assert (tmp_path / "summary.md").read_text().startswith("| setting | n | τ | FDR | R |")
    # the settings file records the error rate: resuming the folder as an FWER run is refused
    with pytest.raises(ValueError, match="error_rate: 'fdr' before, None now"):
        ad.certify_dataset(Sign(), noise, data, num_classes=2, out=tmp_path, n0=8, n=50, tau=[0.75, 0.8],
                           batch_size=40, device="cpu", progress=False, method="holm")


# --- arguments ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(n=[50, 50]), "n has repeated values"),
    (dict(tau=0.4), "tau"),
    (dict(method="holmes"), "holmes"),
    (dict(method=["holm", "bh"]), "bh"),  # refused before any sampling: BH does not control the FWER
    (dict(method=["fdr_by"]), "error_rate='fdr'"),  # BY only as an explicit FDR run
    (dict(error_rate="fdr", method="holm"), "not the FDR"),
    (dict(error_rate="fdr", method="bh"), "need not be PRDS"),
    (dict(error_rate="FDR"), r"error_rate \('FDR'\) not recognized"),
    (dict(n=0), "n must be an integer >= 1"),
    (dict(limit=0), "limit must be an integer >= 1"),
    (dict(ignore_index=1.5), "ignore_index must be an integer"),
    (dict(num_classes=0), "num_classes"),
])
def test_argument_errors(tmp_path, kwargs, match):
    base = dict(num_classes=2, out=tmp_path, n0=5, n=50, device="cpu", progress=False)
    with pytest.raises(ValueError, match=match):
        ad.certify_dataset(Sign(), ad.GaussianNoise(0.1), Images(1), **{**base, **kwargs})
    assert not (tmp_path / "parts").exists()


def test_bad_items_and_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"dataset\[0\] must be a pair"):
        ad.certify_dataset(Sign(), ad.GaussianNoise(0.1), [torch.zeros(3, 8, 8)], num_classes=2, out=tmp_path / "a",
                           n0=5, n=50, device="cpu", progress=False)
    with pytest.raises(ValueError, match=r"output shape \(8, 8\) differs from the label's \(4, 4\)"):
        ad.certify_dataset(Sign(), ad.GaussianNoise(0.1), [(torch.zeros(3, 8, 8), torch.zeros(4, 4))], num_classes=2,
                           out=tmp_path / "b", n0=5, n=50, device="cpu", progress=False)


def test_warns_when_a_setting_cannot_certify(tmp_path):
    with pytest.warns(mtest.CertificationWarning, match=r"no component can be certified: with n=50"):
        run = ad.certify_dataset(Sign(), ad.GaussianNoise(0.1), Images(1), num_classes=2, out=tmp_path, n0=5,
                                 n=50, tau=[0.75, 0.95], device="cpu", progress=False)
    assert run.summary.query("tau == 0.95")["abstain"].iloc[0] == 1.0


def test_ignored_components_count_as_abstentions_not_scores(tmp_path):
    class WithIgnored(Images):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            y = y.clone()
            y[:2] = 255
            return x, y

    run = ad.certify_dataset(Sign(), ad.GaussianNoise(0.1), WithIgnored(2), num_classes=2, out=tmp_path,
                             ignore_index=255, n0=8, n=50, device="cpu", progress=False)
    rows = run.results.query("setting == 'SEGCERTIFY'")
    assert (rows["ignored"] == 16).all() and (rows["scored"] == 48).all()
    matrix = np.sum([np.reshape(v, (2, 3)) for v in rows["confusion"]], axis=0)
    abstained = int(rows["abstained"].sum())
    row = run.summary.query("setting == 'SEGCERTIFY'").iloc[0]
    assert row.abstain == abstained / 128 and row.acc == np.trace(matrix[:, :2]) / 96


# --- the command line ---------------------------------------------------------------------------------

def test_cli_segformer_random_end_to_end(tmp_path, capsys):
    pytest.importorskip("transformers")
    out = tmp_path / "seg"
    args = ["certify", "--model", "segformer-random", "--config", "tiny", "--count", "2", "--size", "32",
            "--n0", "5", "--n", "50", "--tau", "0.75", "--sigma", "0.1", "--batch-size", "28",
            "--device", "cpu", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "random-init SegFormer (tiny)" in text and "| SEGCERTIFY | 50 | 0.75 | holm | 0.067 (ℓ2) |" in text
    df = pd.read_parquet(out / "results.parquet")
    assert len(df) == 4 and (df["components"] == 32 * 32).all()
    assert main(args) == 0  # a rerun finds everything finished
    assert "0 inputs certified now, 2 found finished" in capsys.readouterr().out


def test_cli_demo_images_multiscale(tmp_path, capsys):
    out = tmp_path / "ms"
    assert main(["certify", "--model", "demo-images", "--count", "1", "--size", "32", "--scales", "0.5,1",
                 "--n0", "5", "--n", "50", "--batch-size", "28", "--device", "cpu", "--no-progress",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "scales 0.5,1 + flips" in text and "MultiScale" in (out / "run.json").read_text()


@pytest.mark.parametrize("extra, match", [
    (["--noise", "gaussian", "--vector-groups", "0:3"], "--vector-groups applies to --noise rotation"),
    (["--noise", "rotation", "--perturb", "0,1,2"], "--perturb applies to gaussian"),
    (["--noise", "rotation", "--vector-groups", "0-3"], "--vector-groups must look like"),
    (["--perturb", "x"], "--perturb must be comma-separated integers"),
    (["--scales", "a,b"], "--scales must be comma-separated numbers"),
    (["--model", "demo-pointclouds", "--scales", "0.5"], "--scales applies to image models"),
    (["--tau", "0.3"], "tau"),
    (["--error-rate", "fdr", "--method", "bh"], "need not be PRDS"),
    (["--error-rate", "fdr", "--method", "holm"], "not the FDR"),
    (["--method", "by"], "error_rate='fdr'"),
])
def test_cli_errors(tmp_path, capsys, extra, match):
    assert main(["certify", "--count", "1", "--size", "32", "--no-progress", "--device", "cpu",
                 "--out", str(tmp_path), *extra]) == 2
    assert match in capsys.readouterr().err


@pytest.mark.parametrize("module", ["mtest.adapters.runner"])
def test_docstring_examples(module):
    result = run_doctests(module)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {module}"
