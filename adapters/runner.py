"""Certify a model over a whole dataset: one Parquet part per finished input, resumable, sharded
over ``torchrun`` processes, summarized as the paper's Table 1.

Layout of ``out``::

    out/run.json              the settings; a rerun with other settings is refused
    out/parts/input-00000042.parquet   one file per finished input (all its rows), written to a
                              temporary name, fsynced and renamed: a kill loses only the input
                              that was running
    out/results.parquet       all rows, merged by rank 0 once every input is done
    out/summary.csv, summary.md   the Table 1 columns over the (n, tau, method) grid

Each input is sampled once per n (counts do not depend on tau, alpha or the FWER method), and
every (tau, method) of the grid is certified from those counts (``CertifyRun.recertify``).
Its noise is seeded by (seed, input index), so the result of an input does not depend on how
the inputs are sharded, on the batch size, or on whether the run was interrupted.
"""
from __future__ import annotations

import datetime
import json
import numbers
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtest._validation import ReadOnlyArrays
import torch

import mtest
from mtest._validation import check_alpha, check_choice, check_positive_int, check_probability
from mtest.certify import certifying_procedure

from .metrics import ConfusionMatrix
from .sampler import SegmentationSmoother

__all__ = ["certify_dataset", "summarize", "format_summary", "DatasetRun"]

_PART = "input-{:08d}.parquet"
_SETTINGS_FILE = "run.json"


@dataclass(frozen=True)
class DatasetRun(ReadOnlyArrays):
    """What ``certify_dataset`` did.

    ``results`` (rank 0; None on other ranks): one row per (input, setting) — see
    ``certify_dataset`` for the columns. ``summary``: ``summarize`` of ``results``;
    ``table``: it as markdown. ``computed``/``skipped``: inputs certified by this run (all
    processes together) / found finished in ``out`` by an earlier run. ``rank``/``world_size``:
    of this process.

    Attributes
    ----------
    results : pandas.DataFrame or None
        One row per (input, setting) on rank 0; None on other ranks.
    summary : pandas.DataFrame or None
        ``summarize(results)``.
    table : str or None
        The summary as markdown.
    out : pathlib.Path
        The output folder.
    computed, skipped : int
        Inputs certified by this run / found finished in ``out`` by an earlier run.
    rank, world_size : int
        This process's rank and the number of processes.
    """

    results: object
    summary: object
    table: str | None
    out: Path
    computed: int
    skipped: int
    rank: int
    world_size: int

    def __repr__(self) -> str:
        rows = None if self.results is None else len(self.results)
        return (f"DatasetRun(out={str(self.out)!r}, rows={rows}, computed={self.computed}, "
                f"skipped={self.skipped}, rank={self.rank}, world_size={self.world_size})")


def _as_tuple(name, value, check):
    items = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not items:
        raise ValueError(f"{name} must not be empty")
    out = tuple(check(v) for v in items)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has repeated values: {list(items)}")
    return out


def _check_method(value, error_rate: str = "fwer") -> str:
    # a ValueError for unknown names and for procedures that cannot certify at this error rate
    certifying_procedure(value, 1, error_rate)
    return value


def _describe_noise(noise) -> str:
    return repr(noise)


def _model_fingerprint(model: torch.nn.Module) -> str:
    """Class name, a hash of the module tree's repr (wrappers' scales, normalization, ...), parameter
    count and a weight checksum: a rerun into the same ``out`` with another model is refused
    instead of mixing two models' rows."""
    import hashlib

    total, checksum = 0, 0.0
    with torch.no_grad():
        for p in model.state_dict().values():
            if p.is_floating_point():
                total += p.numel()
                checksum += float(p.detach().cpu().double().abs().sum())
    tree = hashlib.sha256(repr(model).encode()).hexdigest()[:12]
    return f"{type(model).__name__}(params={total}, abs_sum={checksum:.6e}, repr={tree})"


def _fsync_dir(path: Path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _write_atomic(table, path: Path, rank: int):
    """Parquet to a temporary name beside ``path``, fsync, rename, fsync the folder."""
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.rank{rank}.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _finished(parts: Path) -> set[int]:
    done = set()
    for p in parts.glob("input-*.parquet"):
        stem = p.name[len("input-"):-len(".parquet")]
        if stem.isdigit():
            done.add(int(stem))
    return done


def _input_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint32)[0])


def _as_input(item, index):
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise ValueError(f"dataset[{index}] must be a pair (input, label); got {type(item).__name__}"
                         + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else ""))
    x, y = item
    x = torch.as_tensor(x)
    y = y.cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    return x, y


class _Distributed:
    """torch.distributed when launched by torchrun (WORLD_SIZE > 1): NCCL on GPUs, gloo on CPU."""

    def __init__(self, device_type: str):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.created = False
        self.backend = None
        if self.world_size <= 1:
            self.rank = 0
            return
        import torch.distributed as dist

        if not dist.is_initialized():
            backend = "nccl" if device_type == "cuda" else "gloo"
            # ranks wait at the final barrier while the slowest shard finishes: hours, not 30 minutes
            dist.init_process_group(backend, timeout=datetime.timedelta(days=7))
            self.created = True
        self.backend = dist.get_backend()
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()

    def barrier(self):
        if self.world_size > 1:
            import torch.distributed as dist

            if self.backend == "nccl":
                dist.barrier(device_ids=[torch.cuda.current_device()])
            else:
                dist.barrier()

    def close(self):
        if self.created:
            import torch.distributed as dist

            dist.destroy_process_group()


def _resolve_device(device, dist_local_rank: int, world_size: int):
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device ({str(device)!r}) is not available: torch.cuda.is_available() is False")
        if world_size > 1 and device.index is None:
            device = torch.device("cuda", dist_local_rank)  # one GPU per process on each node
        torch.cuda.set_device(device)
    return device


def _rows_for_input(index, x, y, smoother, grid, baseline, num_classes, ignore_index, seed, bar, label):
    """All rows of one input: the clean prediction (optional) and every (n, tau, method)."""
    n0, ns, taus, methods, alpha, error_rate = grid
    rows = []
    t_input = time.perf_counter()
    common = dict(input_id=int(index), n0=int(n0), alpha=float(alpha), noise=_describe_noise(smoother.noise),
                  radius_unit=getattr(smoother.noise, "radius_unit", ""), num_classes=int(num_classes))
    if baseline:
        bar.set_description(f"{label}, clean prediction")
        t0 = time.perf_counter()
        pred = smoother.predict(x)
        rows.append(_score(dict(common, setting="base model", n=0, tau=float("nan"), method="-",
                                radius=float("nan"), seconds=time.perf_counter() - t0),
                           pred, y, num_classes, ignore_index, None, 0))
        bar.update(1)
    for n in ns:
        bar.set_description(f"{label}, n0={n0}, n={n}")
        run = smoother.certify(x, n0=n0, n=n, tau=taus[0], alpha=alpha, method=methods[0],
                               seed=_input_seed(seed, index), error_rate=error_rate)
        for tau in taus:
            for method in methods:
                decided = (run if (tau, method) == (taus[0], methods[0])
                           else run.recertify(tau, alpha, method=method, error_rate=error_rate))
                rows.append(_score(dict(common, setting="SEGCERTIFY", n=int(n), tau=float(tau), method=method,
                                        radius=float(decided.radius),
                                        seconds=run.seconds_sampling + decided.seconds_certify),
                                   decided.labels, y, num_classes, ignore_index, run, n))
        bar.update(1)
    elapsed = time.perf_counter() - t_input
    for row in rows:
        row["seconds_input"] = elapsed
    return rows


def _score(row, labels, target, num_classes, ignore_index, run, n):
    labels = np.asarray(labels)
    if labels.shape != target.shape:
        raise ValueError(f"input {row['input_id']}: the model's output shape {labels.shape} differs from the "
                         f"label's {target.shape}")
    cm = ConfusionMatrix(num_classes, ignore_index).update(labels, target)
    m = cm.matrix
    ignored = (target == ignore_index) if ignore_index is not None else np.zeros(target.shape, bool)
    scored = int(m.sum())
    abstained = int(np.count_nonzero(labels == mtest.ABSTAIN))
    row.update(components=int(labels.size), scored=scored, ignored=int(np.count_nonzero(ignored)),
               ignored_abstained=int(np.count_nonzero(labels[ignored] == mtest.ABSTAIN)),
               certified=int(labels.size) - abstained, abstained=abstained,
               correct=int(np.trace(m[:, :num_classes])),
               accuracy=float(np.trace(m[:, :num_classes]) / scored) if scored else float("nan"),
               abstain_rate=abstained / labels.size, confusion=m.ravel().tolist())
    if run is not None:
        count = np.asarray(run.count, dtype=np.float64)
        row.update(count_mean=float(count.mean() / n), count_min=int(count.min()),
                   count_all=float(np.mean(count == n)), joint_count=int(run.joint_count),
                   seconds_sampling=float(run.seconds_sampling), samples_per_second=float(run.samples_per_second))
    else:
        row.update(count_mean=float("nan"), count_min=-1, count_all=float("nan"), joint_count=-1,
                   seconds_sampling=float(row["seconds"]), samples_per_second=float("nan"))
    return row


def certify_dataset(model: torch.nn.Module, noise, dataset, *, num_classes: int, out, n0: int = 10,
                    n=100, tau=0.75, alpha: float = 0.001, method=None, ignore_index: int | None = None,
                    class_dim: int = 1, output_fn=None, batch_size: int = 32, device=None,
                    autocast: bool = False, seed: int = 0, limit: int | None = None, baseline: bool = True,
                    progress: bool = True, error_rate: str = "fwer") -> DatasetRun:
    """SEGCERTIFY over a dataset, resumable, across ``torchrun`` processes; the paper's Table 1.

    Every input ``dataset[i] = (x, y)`` (``x`` one input without a batch dimension, ``y`` its
    per-component labels shaped like the model's output) is sampled once per ``n`` with ``n0``
    guessing samples, then certified for every ``tau`` and ``method`` from the same counts. Its
    rows go to ``out/parts/input-<i>.parquet`` as soon as the input is done (temporary file,
    fsync, rename), so a killed run loses at most the input that was running, and a rerun with
    the same settings skips every finished input. Under ``torchrun`` (``WORLD_SIZE`` > 1) each
    process takes every ``world_size``-th unfinished input, writes its own parts, and rank 0
    merges them into ``out/results.parquet`` and ``out/summary.{csv,md}`` after a barrier. ``out``
    must be on a file system that every process sees (shared across nodes).

    Parameters
    ----------
    model : torch.nn.Module
        Per-component logits with a batch dimension (see ``SegmentationSmoother``); wrap
        Hugging Face or dict-output models with ``HFSegmentation`` / ``DictOutput``,
        multi-scale inference with ``MultiScale``. Moved to ``device`` if it is elsewhere.
    noise : GaussianNoise, LaplaceNoise, RotationNoise or any noise object
        For point clouds, ``GaussianNoise(sigma, features=range(3))`` perturbs only the
        coordinates (paper §6.3) and ``RotationNoise(sigma, vector_groups=[(0, 3), (3, 6)])``
        turns normals with the points.
    dataset : torch.utils.data.Dataset or sequence
        ``len(dataset)`` and ``dataset[i] -> (input, label)``.
    num_classes : int
    out : str or Path
        Output folder (created).
    n0 : int
        Guessing samples (the paper: 10 for images, 100 for point clouds).
    n : int or sequence of int
        Counting samples; one sampling pass per value.
    tau : float or sequence of float
        Thresholds in [0.5, 1).
    alpha : float
        Family-wise error rate per input (with ``error_rate='fdr'``: the FDR per input).
    method : str or sequence of str, optional
        FWER procedures (``'holm'``, the default, ``'bonferroni'``, ...); with
        ``error_rate='fdr'``, ``'fdr_by'`` (the default there).
    ignore_index : int, optional
        Label of unscored components (e.g. 255); counted in the abstention rate, as Table 1.
    class_dim, output_fn, batch_size, autocast
        As for ``SegmentationSmoother``.
    device : str or torch.device, optional
        Default: CUDA if available, else CPU; under torchrun on GPUs, ``cuda:LOCAL_RANK``.
    seed : int
        Input ``i`` uses noise seeded by ``(seed, i)``.
    limit : int, optional
        Certify only the first ``limit`` inputs (a later run with a larger limit adds the rest).
    baseline : bool
        Also score the model's clean prediction (the "base model" rows of Table 1).
    progress : bool
        One tqdm bar (rank 0) naming the current input and setting.
    error_rate : {'fwer', 'fdr'}
        What alpha bounds for every method of the run (``mtest.segcertify``); checked with
        the methods before any sampling.

    Returns
    -------
    DatasetRun
        ``results`` has one row per (input, setting): ``input_id``, ``setting`` ("base model" or
        "SEGCERTIFY"), ``n0``, ``n``, ``tau``, ``alpha``, ``method``, ``noise``, ``radius``,
        ``radius_unit``, ``components``, ``scored``, ``ignored``, ``certified``, ``abstained``,
        ``correct``, ``accuracy`` (certified accuracy of the input), ``abstain_rate``,
        ``confusion`` (the input's C × (C + 1) matrix, row-major, last column abstentions),
        ``count_mean`` (mean count / n), ``count_min``, ``count_all`` (fraction of components
        with count = n), ``joint_count``, ``seconds`` (sampling for this n + this
        certification), ``seconds_sampling``, ``samples_per_second``, ``seconds_input``.

    Examples
    --------
    >>> import tempfile, torch
    >>> import mtest.adapters as ad
    >>> data = [(torch.zeros(3, 8, 8), torch.zeros(8, 8, dtype=torch.long))] * 2
    >>> model = torch.nn.Conv2d(3, 2, 1)
    >>> with torch.no_grad():
    ...     _ = model.bias.copy_(torch.tensor([5.0, -5.0]))
    >>> with tempfile.TemporaryDirectory() as out:
    ...     run = ad.certify_dataset(model, ad.GaussianNoise(0.25), data, num_classes=2, out=out,
    ...                              n=100, tau=[0.75, 0.85], progress=False, device="cpu")
    >>> print(run.summary[["setting", "n", "tau", "acc", "abstain", "inputs"]].to_string(index=False))
       setting   n  tau  acc  abstain  inputs
    base model   0  NaN  1.0      0.0       2
    SEGCERTIFY 100 0.75  1.0      0.0       2
    SEGCERTIFY 100 0.85  1.0      0.0       2
    """
    num_classes = check_positive_int("num_classes", num_classes)
    n0 = check_positive_int("n0", n0)
    ns = _as_tuple("n", n, lambda v: check_positive_int("n", v))
    taus = _as_tuple("tau", tau, lambda v: check_probability("tau", v, low=0.5, high=1.0, high_open=True))
    error_rate = check_choice("error_rate", error_rate, mtest.certify.CERTIFICATION_ERROR_RATES)
    if method is None:
        method = certifying_procedure(None, 1, error_rate)[0].name
    methods = _as_tuple("method", method, lambda v: _check_method(v, error_rate))
    alpha = check_alpha(alpha)
    seed = check_positive_int("seed", seed, minimum=0)
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral)):
        raise ValueError(f"ignore_index must be an integer or None; got {ignore_index!r}")
    try:
        size = len(dataset)
    except TypeError:
        raise ValueError(f"dataset must have a length (a torch Dataset or a sequence); got "
                         f"{type(dataset).__name__}") from None
    if limit is not None:
        size = min(size, check_positive_int("limit", limit))
    if size == 0:
        raise ValueError("dataset is empty")
    try:
        import pyarrow as pa
    except ImportError as exc:  # pragma: no cover - pyarrow is in the dev/parquet extras
        raise ImportError("certify_dataset writes Parquet: pip install -c constraints.txt -e \".[parquet]\"") from exc

    out = Path(out)
    parts = out / "parts"
    dist = _Distributed(torch.device(device).type if device is not None else
                        ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        device = _resolve_device(device, dist.local_rank, dist.world_size)
        fingerprint = _model_fingerprint(model)
        if any(p.device != device for p in list(model.parameters()) + list(model.buffers())):
            model = model.to(device)
        settings = dict(n0=n0, n=list(ns), tau=list(taus), method=list(methods), alpha=alpha, seed=seed,
                        num_classes=num_classes, ignore_index=ignore_index, baseline=bool(baseline),
                        class_dim=int(class_dim), noise=_describe_noise(noise), model=fingerprint,
                        dataset_size=len(dataset))
        if error_rate != "fwer":  # only then, so that folders written before the option still resume
            settings["error_rate"] = error_rate
        if dist.rank == 0:
            parts.mkdir(parents=True, exist_ok=True)
            _check_settings(out / _SETTINGS_FILE, settings)
            for stale in parts.glob(".input-*.tmp"):  # left by a process killed while writing
                stale.unlink()
        dist.barrier()  # the folder and settings exist; nobody writes a part before everybody listed them
        done = _finished(parts)
        dist.barrier()
        pending = [i for i in range(size) if i not in done]
        mine = pending[dist.rank::dist.world_size]
        smoother = SegmentationSmoother(model, noise, class_dim=class_dim, output_fn=output_fn,
                                        batch_size=batch_size, device=device, autocast=autocast, progress=False)
        grid = (n0, ns, taus, methods, alpha, error_rate)
        from mtest._optional import progress as tqdm  # without tqdm: no bar, the work runs

        steps = len(ns) + bool(baseline)
        who = f"rank {dist.rank}/{dist.world_size}: " if dist.world_size > 1 else ""
        with tqdm(total=len(mine) * steps, unit="pass", disable=not progress or dist.rank != 0) as bar:
            for k, index in enumerate(mine):
                x, y = _as_input(dataset[index], index)
                label = f"{who}input {k + 1}/{len(mine)} (#{index})"
                rows = _rows_for_input(index, x, y, smoother, grid, baseline, num_classes, ignore_index, seed,
                                       bar, label)
                for row in rows:
                    row["rank"] = dist.rank
                _write_atomic(pa.Table.from_pylist(rows), parts / _PART.format(index), dist.rank)
        dist.barrier()  # every part is written
        results = summary = table = None
        if dist.rank == 0:
            results = _merge(parts, size, out)
            summary = summarize(results)
            table = format_summary(summary)
            _write_text_atomic(out / "summary.md", table + "\n")
            _write_text_atomic(out / "summary.csv", summary.to_csv(index=False))
        dist.barrier()
        return DatasetRun(results=results, summary=summary, table=table, out=out, computed=len(pending),
                          skipped=size - len(pending), rank=dist.rank, world_size=dist.world_size)
    finally:
        dist.close()


def _check_settings(path: Path, settings: dict):
    if path.exists():
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(settings)):
            diff = sorted(k for k in set(old) | set(settings) if old.get(k) != json.loads(json.dumps(settings)).get(k))
            details = "; ".join(f"{k}: {old.get(k)!r} before, {settings.get(k)!r} now" for k in diff)
            raise ValueError(f"{path.parent} holds a run with other settings ({details}); use another out folder "
                             f"to keep both, or delete it")
        return
    _write_text_atomic(path, json.dumps(settings, indent=2) + "\n")


def _write_text_atomic(path: Path, text: str):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _merge(parts: Path, size: int, out: Path):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    missing = [i for i in range(size) if not (parts / _PART.format(i)).exists()]
    if missing:
        raise RuntimeError(f"inputs {missing[:10]} have no part in {parts} after all ranks finished")
    table = pa.concat_tables([pq.read_table(parts / _PART.format(i)) for i in range(size)])
    df = table.to_pandas()
    df = df.sort_values(["input_id", "n", "tau", "method"], kind="stable", ignore_index=True)
    tmp = out / ".results.parquet.tmp"
    df.to_parquet(tmp, index=False)
    os.replace(tmp, out / "results.parquet")
    return df


def summarize(results):
    """The paper's Table 1 over a results table (a DataFrame or a ``results.parquet`` path).

    One row per (setting, noise, n, tau, method): accuracy, mIoU and abstention rate from the
    dataset's confusion matrix (the per-input matrices summed; mIoU = mean IoU over classes;
    abstentions over all components, ignored ones included), the radius, the number of inputs
    and the mean seconds per input (sampling for that n + certification).

    Parameters
    ----------
    results : pandas.DataFrame or str or Path

    Returns
    -------
    pandas.DataFrame
        Columns ``setting, noise, n, tau, method, radius, radius_unit, inputs, acc, miou,
        abstain, seconds``.
    """
    import pandas as pd

    df = pd.read_parquet(results) if isinstance(results, (str, Path)) else results
    rows = []
    keys = ["setting", "noise", "n", "tau", "method"]
    for key, group in df.groupby(keys, sort=False, dropna=False):
        c = int(group["num_classes"].iloc[0])
        matrix = np.sum([np.asarray(v, np.int64).reshape(c, c + 1) for v in group["confusion"]], axis=0)
        cm = ConfusionMatrix.from_counts(matrix, ignored=int(group["ignored"].sum()),
                                         ignored_abstained=int(group["ignored_abstained"].sum()))
        scores = cm.scores()
        radii = group["radius"].dropna().unique()
        rows.append(dict(zip(keys, key), radius=float(radii[0]) if len(radii) else float("nan"),
                         radius_unit=group["radius_unit"].iloc[0], inputs=int(group["input_id"].nunique()),
                         acc=scores.accuracy, miou=scores.miou, abstain=scores.abstain_rate,
                         seconds=float(group["seconds"].mean())))
    summary = pd.DataFrame(rows)
    order = summary["setting"].map({"base model": 0}).fillna(1)
    return (summary.assign(_o=order).sort_values(["_o", "noise", "n", "tau", "method"], kind="stable")
            .drop(columns="_o").reset_index(drop=True))


def format_summary(summary) -> str:
    """A ``summarize`` table as markdown, with the paper's Table 1 columns.

    Parameters
    ----------
    summary : pandas.DataFrame

    Returns
    -------
    str
    """
    certified = summary.loc[summary["setting"] != "base model", "method"]
    # the method column names what alpha bounds: FDR for a run with error_rate='fdr' (BY), else FWER
    rate = "FDR" if any(mtest.get_procedure(m).error_rate == "fdr" for m in certified) else "FWER"
    lines = [f"| setting | n | τ | {rate} | R | acc | mIoU | % abstain | s/input | inputs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary.itertuples(index=False):
        base = r.setting == "base model"
        unit = {"rad": " rad", "": ""}.get(r.radius_unit, f" ({r.radius_unit})")
        lines.append(f"| {r.setting} | {'-' if base else r.n} | {'-' if base else f'{r.tau:g}'} | "
                     f"{'-' if base else r.method} | {'-' if base else f'{r.radius:.3f}{unit}'} | {r.acc:.3f} | "
                     f"{r.miou:.3f} | {100 * r.abstain:.1f} | {r.seconds:.2f} | {r.inputs} |")
    return "\n".join(lines)
