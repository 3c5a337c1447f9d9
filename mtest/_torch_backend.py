"""Rejections and adjusted p-values of torch tensors, on the tensor's device, batched along an axis.

torch is imported lazily (``mtest`` imports without it); this module is reached only for a
``torch.Tensor`` input. The results equal the numpy path (``mtest.reject``,
``mtest.adjust``) bit for bit in float64, for these reasons:

* **Rejections** compare the p-values on the device with the *exact critical values* of the
  stepwise engine (``mtest._stepwise.critical_values``, computed on the CPU: the largest
  double t with raw_i(t) <= alpha). Single-step procedures need one critical value per family and
  one comparison pass; step-down and step-up procedures run the engine's counting form batched
  over families (one comparison pass and one host round trip per step, at most
  ``MAX_COUNTING_PASSES``), and families still undecided are sorted on the device and decided
  against the critical values (or, for transforms that are bitwise equal on the device, against
  ``raw(p) <= alpha``, which is the same test).
* **Adjusted p-values**: ``torch.sort`` along the family axis, the procedure's transform in float64
  on the device, a running maximum (step-down) or a running minimum from the top (step-up),
  ``min(., 1)``, scattered back. The transforms of Bonferroni, Holm, Lehmann–Romano, Hochberg,
  BH and BY are one IEEE multiplication of the p-value by a factor built from integers by IEEE
  operations, and Gavrilov–Benjamini–Sarkar's is IEEE operations in numpy's order, so they equal
  numpy's bit for bit on every device. Divisions never take a CPU
  scalar as divisor (CUDA turns ``tensor / cpu_scalar`` into a multiplication by the reciprocal,
  which can differ by an ulp). Šidák and Holm–Šidák use ``log1p`` and ``expm1``, whose torch
  implementations (Sleef on CPU, CUDA's libdevice) differ from numpy's by up to an ulp each: their
  adjusted values agree with numpy's to within ``SIDAK_MAX_ULPS`` ulps (their *rejections*
  are exact, as they use critical values).
* float32 (and float16/bfloat16, read as float32) input: rejections compare in the input's dtype
  against the critical values rounded *down* to that dtype, which is exactly ``float64(p) <=
  critical`` — the numpy path's float32 semantics, without an upcast copy. Adjusted values are
  computed from the exactly upcast sorted values in float64 and returned as float64, as
  ``mtest.adjust`` does (a float32 result would break ``reject == (adjusted <= alpha)``).
  Integer tensors are read as float64.
* Hommel and the two-stage FDR procedures (``SpecialProcedure``) have no
  device algorithm: each family is copied to the CPU, run by the numpy path, and the results
  copied back (a Python loop over families). User-registered stepwise procedures run on the device for the rejections (the engine's
  critical values serve every procedure); their adjusted values evaluate ``proc.raw`` on the CPU.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
import sys
from typing import Any

import numpy as np

from ._lazy import kernels_module
from ._stepwise import adjusted_flat, critical_values
from ._validation import COPY_BELOW, as_pvalues, check_alpha, check_nan_policy
from .procedures import harmonic_number
from .registry import PROCEDURES, Guarantee, SpecialProcedure, get_procedure

_kernels = kernels_module()  # numba is imported when a kernel is first used

__all__ = ["MAX_COUNTING_PASSES", "COUNT_CPU_WITH_KERNELS", "SIDAK_MAX_ULPS", "TorchTestResult",
           "is_tensor", "reject_torch", "adjust_torch"]

#: counting passes (each one comparison pass and one host round trip) before undecided families
#: are sorted on the device
MAX_COUNTING_PASSES = 8

#: on CPU tensors, count with mtest's counting kernel on the tensor's memory (torch's CPU bool
#: reductions are slow); the tests run both ways
COUNT_CPU_WITH_KERNELS = True

#: Šidák and Holm–Šidák adjusted values on torch are within this many ulps of numpy's (log1p and
#: expm1 differ by up to an ulp each between libraries; measured <= 2 on torch's CPU)
SIDAK_MAX_ULPS = 4

#: procedures whose device transform equals numpy's bit for bit (a product p * factor(i, m, k))
_PRODUCT_FORM = ("bonferroni", "holm", "lehmann-romano", "hochberg", "fdr_bh", "fdr_by")
#: ... and those whose device transform is bitwise numpy's, usable for decisions
_EXACT_RAW = _PRODUCT_FORM + ("fdr_gbs",)


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a ``torch.Tensor`` (without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def _torch():
    import torch

    return torch


@dataclass(frozen=True, repr=False)
class TorchTestResult:
    """Outcome of a multiple-testing procedure on a torch tensor (one or many families).

    Attributes
    ----------
    reject : torch.Tensor of bool
        The input's shape, on its device; ``True`` where the null is rejected.
    threshold : torch.Tensor of float64
        Per family (the input's shape without ``axis``; a 0-d tensor for ``axis=None``): every
        tested p-value ``<= threshold`` is rejected and every one above it is not. NaN where a
        family has nothing to test.
    n_rejected, n_tests : torch.Tensor of int64
        Per family, like ``threshold``.
    method, alpha, k, axis
        The procedure's canonical name and the parameters it ran with.
    guarantee : Guarantee
        What the rejections control, e.g. ``FWER <= 0.05 under arbitrary dependence``.
    pvalues_adjusted : torch.Tensor of float64
        Adjusted p-values, computed on first access; ``reject == (pvalues_adjusted <= alpha)``
        (exactly, except Šidák and Holm–Šidák at a few ulps from ``alpha``). As for NumPy input,
        a tensor below 65 536 values is copied; a larger one is fingerprinted, and
        ``RuntimeError`` is raised if it was modified in place since.
    """

    reject: Any
    threshold: Any
    n_rejected: Any
    n_tests: Any
    method: str
    alpha: float
    k: int = 1
    axis: int | None = None
    guarantee: Guarantee | None = None
    _source: tuple = field(default=(), compare=False)

    @cached_property
    def pvalues_adjusted(self):
        families, fingerprint = self._source
        if fingerprint is not None and _fingerprint(families.rows) != fingerprint:
            raise RuntimeError(
                f"the input tensor was modified after {self.method}() returned, so its adjusted "
                "p-values can no longer be computed from it (the rejections and threshold are "
                "those of the original values); call mtest.adjust on the original values, or "
                "read pvalues_adjusted before modifying the tensor")
        return families.restore(_adjusted_rows(families, get_procedure(self.method), self.k,
                                               self.alpha))

    def __repr__(self) -> str:
        k = f", k={self.k}" if self.k != 1 else ""
        if self.axis is None:
            counts = (f"n_tests={int(self.n_tests)}, n_rejected={int(self.n_rejected)}, "
                      f"threshold={float(self.threshold)!r}")
        else:
            counts = f"axis={self.axis}, families={tuple(self.threshold.shape)}"
        return (f"TorchTestResult(method={self.method!r}, alpha={self.alpha}{k}, {counts}, "
                f"device={self.reject.device})")


# ----------------------------------------------------------------------------------------------
# input: validation and the (families, family size) layout


class _Families:
    """Validated p-values as a (B, M) tensor of B families, and how to put results back."""

    def __init__(self, rows, shape, axis, n_tests: np.ndarray, has_nan: bool):
        self.rows = rows            # (B, M): float32 or float64, on the input's device
        self.shape = shape          # the input's shape
        self.axis = axis            # normalized axis or None
        self.n_tests = n_tests      # (B,) int64 on the host: non-NaN values per family
        self.has_nan = has_nan

    @property
    def device(self):
        return self.rows.device

    def restore(self, out):
        """(B, M) → the input's shape (moving the family axis back)."""
        torch = _torch()
        if self.axis is None:
            return out.reshape(self.shape)
        moved = list(self.shape)
        moved.append(moved.pop(self.axis))
        return torch.movedim(out.reshape(moved), -1, self.axis)

    def check_k(self, k: int) -> None:
        """The numpy path's refusal of k > m (``check_k_within``), per family with ``axis``."""
        from ._axis import family_namer
        from .multitest import check_k_within

        if self.axis is None:
            check_k_within(k, int(self.n_tests[0]) if self.n_tests.size else 0)
        else:
            family_shape = tuple(n for i, n in enumerate(self.shape) if i != self.axis)
            check_k_within(k, self.n_tests, names=family_namer(family_shape, self.axis))

    def per_family(self, values):
        """(B,) → the input's shape without the family axis (0-d for ``axis=None``)."""
        if self.axis is None:
            return values.reshape(())
        return values.reshape(tuple(n for i, n in enumerate(self.shape) if i != self.axis))


def _raise_as_numpy(x, nan_policy: str):
    """Raise the numpy path's ValueError for this tensor (same checks, same message)."""
    torch = _torch()
    cpu = x.detach().cpu()
    if cpu.is_floating_point() and cpu.dtype not in (torch.float32, torch.float64):
        cpu = cpu.to(torch.float32)  # numpy has no bfloat16 or float8; exact in float32
    as_pvalues(cpu.resolve_conj().numpy(), nan_policy)
    raise AssertionError("unreachable: the numpy path accepted what the torch path refused")


def _families(pvalues, nan_policy: str, axis) -> _Families:
    torch = _torch()
    check_nan_policy(nan_policy)
    if not isinstance(pvalues, torch.Tensor):
        raise ValueError(f"pvalues must be a torch.Tensor here; got {type(pvalues).__name__}")
    x = pvalues.detach()
    if x.dtype == torch.bool or x.is_complex() or x.is_quantized:
        _raise_as_numpy(x, nan_policy)
    if not x.is_floating_point():
        x = x.to(torch.float64)  # integers, as numpy's path reads them
    elif x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float32)  # float16, bfloat16, float8: exact in float32
    shape = tuple(x.shape)
    if axis is not None:
        if (isinstance(axis, bool) or not isinstance(axis, (int, np.integer))
                or not -x.ndim <= axis < x.ndim):
            raise ValueError(f"axis must be None or an integer in [{-x.ndim}, {x.ndim - 1}] for "
                             f"pvalues of shape {shape}; got {axis!r}")
        axis = int(axis) % x.ndim
        n_families = math.prod(shape[:axis] + shape[axis + 1:])
        rows = torch.movedim(x, axis, -1).reshape(n_families, shape[axis])
    else:
        rows = x.reshape(1, -1)
    has_nan = False
    if x.numel():
        low, high = torch.aminmax(x)
        if not bool((low >= 0) & (high <= 1)):  # one reduction and one sync when all is well
            nan = torch.isnan(x)
            has_nan = bool(nan.any())
            if (has_nan and nan_policy == "raise") or bool(((x < 0) | (x > 1)).any()):
                _raise_as_numpy(pvalues, nan_policy)
    if has_nan:
        n_tests = rows.shape[1] - torch.isnan(rows).sum(dim=1).cpu().numpy().astype(np.int64)
    else:
        n_tests = np.full(rows.shape[0], rows.shape[1], dtype=np.int64)
    return _Families(rows, shape, axis, n_tests, has_nan)


#: positions per step of the device fingerprint (a few int64 temporaries of this size)
FINGERPRINT_CHUNK = 1 << 20
_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)  # mtest._kernels' position key, as a signed int64
_LOW32 = 0xFFFFFFFF


def _fingerprint(rows) -> int:
    """``mtest._kernels``' 64-bit fingerprint of the values of ``rows`` in C order (the one
    ``read_pvalues`` takes of a large NumPy input): on CPU by the same kernel on the tensor's
    memory, elsewhere by int64 tensor arithmetic on the device (wrapping, so bit for bit the
    kernel's), in chunks of ``FINGERPRINT_CHUNK`` values."""
    torch = _torch()
    flat = rows.reshape(-1)
    if flat.device.type == "cpu" and not FINGERPRINT_ON_DEVICE:
        return _kernels.scan_pvalues_fingerprint(flat.numpy())[4]
    total = torch.zeros((), dtype=torch.int64, device=flat.device)
    wide = flat.dtype == torch.float64
    for start in range(0, flat.numel(), FINGERPRINT_CHUNK):
        chunk = flat[start:start + FINGERPRINT_CHUNK]
        bits = chunk.view(torch.int64) if wide else chunk.view(torch.int32).to(torch.int64) & _LOW32
        position = torch.arange(start + 1, start + 1 + chunk.numel(), dtype=torch.int64,
                                device=flat.device) * _GOLDEN
        a = (bits + position) & _LOW32
        b = ((bits >> 32) + (position >> 32)) & _LOW32  # arithmetic shifts: the low 32 bits agree
        total += (a * b + ((a + b) << 32)).sum()
    return int(total) & ((1 << 64) - 1)


#: tests: compute the fingerprint of CPU tensors with the device arithmetic
FINGERPRINT_ON_DEVICE = False


def _guard(pvalues, families) -> int | None:
    """Protect a result's lazily computed adjusted values from later changes of the caller's
    tensor (as ``read_pvalues(protect=True)`` does for NumPy input): rows that do not share the
    caller's memory need nothing; below ``COPY_BELOW`` values they become a private copy; above,
    the fingerprint of the values is returned, to be checked before the adjusted values are
    computed."""
    rows = families.rows
    if rows.numel() == 0 or rows.untyped_storage().data_ptr() != \
            pvalues.untyped_storage().data_ptr():
        return None
    if rows.numel() < COPY_BELOW:
        families.rows = rows.clone()
        return None
    return _fingerprint(rows)


def _check_k(proc, k) -> int:
    from .multitest import check_k_for

    return check_k_for(proc, k)


# ----------------------------------------------------------------------------------------------
# critical values (host) and comparisons (device)


def _critical(proc, ranks: np.ndarray, ms: np.ndarray, k: int, alpha: float) -> np.ndarray:
    """Exact critical values at 1-based ``ranks`` of families of sizes ``ms`` (NaN where m = 0);
    one vectorized engine call per distinct family size."""
    out = np.full(ranks.shape, np.nan)
    for m in np.unique(ms):
        if m == 0:
            continue
        sel = ms == m
        out[sel] = critical_values(proc, ranks[sel], int(m), k, alpha)
    return out


def _at_most(values: np.ndarray, dtype) -> np.ndarray:
    """Largest numbers of ``dtype`` <= ``values`` (float64): ``p <= result`` iff
    ``float64(p) <= values`` for every ``p`` of that dtype."""
    if dtype == np.float64:
        return values
    low = values.astype(dtype)
    above = low.astype(np.float64) > values
    low[above] = np.nextafter(low[above], dtype(-np.inf))
    return low


def _le_per_family(torch, rows, bounds: np.ndarray):
    """``rows <= bounds[:, None]`` in ``rows``' dtype, exact for float32 rows."""
    np_dtype = np.float32 if rows.dtype == torch.float32 else np.float64
    limit = torch.as_tensor(_at_most(bounds, np_dtype), device=rows.device)
    return rows <= limit[:, None]


def _count_le(torch, rows, bounds):
    """#{p <= bound} per family (families with bound -inf are not asked and get 0)."""
    if rows.device.type == "cpu" and COUNT_CPU_WITH_KERNELS:
        # a bool reduction on CPU torch costs ~15 memory passes; the numba kernel reads the
        # tensor's memory in place (float32 compared in float64 registers, like the numpy path)
        host = rows.numpy()
        return np.array([_kernels.count_le(host[b], float(t)) if t > -np.inf else 0
                         for b, t in enumerate(bounds)], dtype=np.int64)
    return _le_per_family(torch, rows, bounds).sum(dim=1).cpu().numpy().astype(np.int64)


def _factor(torch, proc, ranks, n_tests: np.ndarray, k: int):
    """Device factor F_i(m, k) of a product-form transform raw_i(p) = p * F_i, built from
    integers by IEEE operations between device tensors, as numpy's transform builds it."""
    device = ranks.device
    f64 = torch.float64
    m_col = torch.as_tensor(n_tests, device=device)[:, None]
    if proc.name == "bonferroni":  # m / k
        return m_col.to(f64) / torch.tensor(float(k), dtype=f64, device=device)
    if proc.name in ("holm", "hochberg"):  # m - i + 1
        return (m_col - ranks + 1).to(f64)
    if proc.name == "lehmann-romano":  # m/k for i <= k, (m + k - i)/k after
        k_t = torch.tensor(float(k), dtype=f64, device=device)
        return torch.where(ranks <= k, m_col.to(f64) / k_t, (m_col + k - ranks).to(f64) / k_t)
    if proc.name == "fdr_bh":  # m / i
        return m_col.to(f64) / ranks.to(f64)
    if proc.name == "fdr_by":  # (q(m) m) / i
        # q(m) * m in Python floats, as numpy's transform computes it
        qm = torch.as_tensor([harmonic_number(int(m)) * int(m) for m in n_tests], dtype=f64,
                             device=device)
        return qm[:, None] / ranks.to(f64)
    raise AssertionError(proc.name)


def _device_raw(torch, proc, values, ranks, n_tests: np.ndarray, k: int):
    """raw_i(values) on the device for the built-in procedures (float64 ``values`` (B, M), 1-based
    ``ranks`` (M,) or None for single-step, family sizes ``n_tests`` (B,)), else None."""
    if PROCEDURES.get(proc.name) is not proc:  # unregistered objects may reuse a built-in name
        return None
    if n_tests.size and (n_tests == n_tests[0]).all():
        n_tests = n_tests[:1]  # one factor row serves every family
    if ranks is None:
        ranks = torch.ones(1, dtype=torch.int64, device=values.device)
    m_col = torch.as_tensor(n_tests, device=values.device)[:, None]
    if proc.name in _PRODUCT_FORM:
        return values * _factor(torch, proc, ranks, n_tests, k)
    # Šidák's transforms can round an ulp below p: raised to p as numpy's (registry.NotBelowP)
    if proc.name == "sidak":  # max(-expm1(m log1p(-p)), p)
        return torch.maximum(-torch.expm1(m_col.to(torch.float64) * torch.log1p(-values)), values)
    if proc.name == "holm-sidak":  # max(-expm1((m - i + 1) log1p(-p)), p)
        return torch.maximum(-torch.expm1((m_col - ranks + 1).to(torch.float64) * torch.log1p(-values)),
                             values)
    if proc.name == "fdr_gbs":  # (m + 1.0 - i) / i * p / (1 - p), numpy's order of operations
        f64 = torch.float64
        return (m_col + 1 - ranks).to(f64) / ranks.to(f64) * values / (1.0 - values)
    return None


def _host_raw(torch, proc, values, sorted_: bool, n_tests: np.ndarray, k: int):
    """raw_i(values) by the procedure's own numpy transform on the CPU (user procedures): the
    first m sorted values of each family at ranks 1..m, or every value of a single-step one.
    NaN where nothing is tested."""
    host = values.cpu().numpy()
    out = np.full(host.shape, np.nan)
    for m in np.unique(n_tests):
        if m == 0:
            continue
        sel = np.flatnonzero(n_tests == m)
        cols = np.arange(m if sorted_ else host.shape[1])
        block = host[sel[:, None], cols]
        ranks = np.broadcast_to(cols + 1, block.shape).reshape(-1) if sorted_ else None
        raw = proc.raw(block.reshape(-1), ranks, int(m), k)
        out[sel[:, None], cols] = np.asarray(raw, dtype=np.float64).reshape(block.shape)
    out[np.isnan(host)] = np.nan
    return torch.as_tensor(out, device=values.device)


# ----------------------------------------------------------------------------------------------
# rejections


def _decide_sorted(torch, proc, rows, n_tests: np.ndarray, k: int, alpha: float) -> np.ndarray:
    """Rejection counts of families ``rows`` (B', M) by a full sort on the device."""
    values = torch.sort(rows, dim=1).values.to(torch.float64)  # NaN last
    size = rows.shape[1]
    ranks = torch.arange(1, size + 1, device=rows.device)
    m_col = torch.as_tensor(n_tests, device=rows.device)[:, None]
    raw = _device_raw(torch, proc, values, ranks, n_tests, k) \
        if proc.name in _EXACT_RAW else None
    if raw is not None:  # raw_i(p) <= alpha is p <= critical_i, bit for bit
        ok = raw <= alpha
    else:
        bounds = np.full((len(n_tests), size), -np.inf)
        for m in np.unique(n_tests):
            if m:
                bounds[n_tests == m, :m] = critical_values(proc, np.arange(1, m + 1), int(m), k,
                                                           alpha)
        ok = values <= torch.as_tensor(bounds, device=rows.device)
    ok &= ranks <= m_col  # NaN (last) is never tested
    if proc.step == "down":  # the number of leading passes: the first failing rank - 1
        r = torch.where(ok, m_col, ranks - 1).amin(dim=1)
    else:  # the largest passing rank (families reaching here have m >= 1)
        r = torch.where(ok, ranks, 0).amax(dim=1)
    return r.cpu().numpy().astype(np.int64)


def _n_rejected(torch, proc, families: _Families, k: int, alpha: float) -> np.ndarray:
    """Step-down / step-up rejection counts per family: the engine's counting form, batched."""
    rows, m = families.rows, families.n_tests
    n = len(m)
    r = np.where(m == 0, 0, -1).astype(np.int64)
    i = np.ones(n, dtype=np.int64) if proc.step == "down" else m.copy()
    for _ in range(MAX_COUNTING_PASSES):
        open_ = r < 0
        if not open_.any():
            return r
        bounds = np.full(n, -np.inf)
        bounds[open_] = _critical(proc, i[open_], m[open_], k, alpha)
        count = _count_le(torch, rows, bounds)
        if proc.step == "down":
            # F(alpha_i) < i: exactly i - 1 rejections; F(alpha_i) >= m: all; else next i
            stop = open_ & (count < i)
            r[stop] = i[stop] - 1
            full = open_ & ~stop & (count >= m)
            r[full] = m[full]
            i = np.where(open_ & (r < 0), count + 1, i)
        else:
            # F(alpha_i) >= i: i rejections; F(alpha_i) = 0: none; else no rank in (F, i] passes
            stop = open_ & (count >= i)
            r[stop] = i[stop]
            none = open_ & ~stop & (count == 0)
            r[none] = 0
            i = np.where(open_ & (r < 0), count, i)
    undecided = np.flatnonzero(r < 0)
    if undecided.size:
        index = torch.as_tensor(undecided, device=rows.device)
        r[undecided] = _decide_sorted(torch, proc, rows.index_select(0, index), m[undecided], k,
                                      alpha)
    return r


def _special_cpu(proc, families: _Families, k: int, alpha: float | None, reject: bool):
    """SpecialProcedure (Hommel, the two-stage FDR procedures): each family through the numpy
    path on the CPU."""
    from .multitest import run

    torch = _torch()
    host = families.rows.cpu().numpy()
    adjusted = np.full(host.shape, np.nan)
    mask = np.zeros(host.shape, dtype=bool)
    r = np.zeros(len(host), dtype=np.int64)
    thr = np.full(len(host), np.nan)
    for b, row in enumerate(host):
        n_nan = row.size - int(families.n_tests[b])
        adjusted[b] = adjusted_flat(row, proc, k, n_nan, alpha)
        if reject:
            res = run(row, alpha, proc, k, "omit")
            mask[b], r[b], thr[b] = res.reject, res.n_rejected, res.threshold
    device = families.device
    return (torch.as_tensor(adjusted, device=device), torch.as_tensor(mask, device=device),
            r, thr)



def _in_dtype(thr, float32: bool) -> np.ndarray:
    """Thresholds as the numpy path reports them: for float32 p-values the largest float32 at or
    below the critical value (``mtest.multitest.representable_threshold``, vectorized)."""
    thr = np.asarray(thr, dtype=np.float64)
    if not float32:
        return thr
    t32 = thr.astype(np.float32)
    over = t32.astype(np.float64) > thr
    t32[over] = np.nextafter(t32[over], np.float32(-np.inf))
    return t32.astype(np.float64)

def reject_torch(pvalues, alpha: float = 0.05, method: str = "holm", *, k: int = 1,
                 axis: int | None = None, nan_policy: str = "raise") -> TorchTestResult:
    """Apply a registered multiple-testing procedure to a torch tensor, on its device.

    Bitwise the rejections, thresholds and counts of ``mtest.reject`` applied to each family
    (``p.cpu().numpy()``), without leaving the device (Hommel excepted: it runs on the CPU).

    Parameters
    ----------
    pvalues : torch.Tensor
        p-values in [0, 1], any shape, any device; floating or integer dtype.
    alpha : float
        Level in (0, 1).
    method : str or Procedure
        A name or alias from ``mtest.PROCEDURES``.
    k : int
        k of k-FWER (only for k-FWER procedures).
    axis : int or None
        ``None``: the whole tensor is one family. An integer: every 1-D slice along ``axis`` is
        its own family (scipy ``false_discovery_control`` convention), all decided together.
    nan_policy : {'raise', 'omit'}
        ``'omit'``: NaN is not tested, not counted, never rejected (R semantics).

    Returns
    -------
    TorchTestResult

    Examples
    --------
    >>> import torch, mtest
    >>> p = torch.tensor([[0.001, 0.02, 0.04, 0.3], [0.001, 0.002, 0.003, 0.5]], dtype=torch.float64)
    >>> res = mtest.reject(p, alpha=0.05, method="holm")        # one family of 8
    >>> int(res.n_rejected)
    4
    >>> from mtest._torch_backend import reject_torch
    >>> res = reject_torch(p, 0.05, "holm", axis=1)             # one family per row
    >>> res.n_rejected
    tensor([1, 3])
    >>> res.reject
    tensor([[ True, False, False, False],
            [ True,  True,  True, False]])
    """
    torch = _torch()
    proc = get_procedure(method)
    alpha = check_alpha(alpha)
    k = _check_k(proc, k)
    families = _families(pvalues, nan_policy, axis)
    families.check_k(k)
    # the adjusted values of a stepwise procedure are computed later, from the rows: guard them
    fingerprint = None if isinstance(proc, SpecialProcedure) else _guard(pvalues, families)
    rows, m = families.rows, families.n_tests
    device = families.device
    guarantee = proc.guarantee(k, alpha)
    adjusted = None
    if isinstance(proc, SpecialProcedure):
        adjusted, mask, r, thr = _special_cpu(proc, families, k, alpha, True)
    else:
        if proc.step == "single":
            thr = _critical(proc, np.ones(len(m), dtype=np.int64), m, k, alpha)
            mask = _le_per_family(torch, rows, thr)
            # on a GPU the mask's sum is one cheap pass; on CPU torch the kernel counts faster
            r = (_count_le(torch, rows, np.where(m > 0, thr, -np.inf))
                 if rows.device.type == "cpu" and COUNT_CPU_WITH_KERNELS else None)
        else:
            r = _n_rejected(torch, proc, families, k, alpha)
            thr = _critical(proc, np.maximum(r, 1), m, k, alpha)
            mask = _le_per_family(torch, rows, thr)
    n_rejected = mask.sum(dim=1) if r is None else torch.as_tensor(r, device=device)
    result = TorchTestResult(
        reject=families.restore(mask),
        threshold=families.per_family(torch.as_tensor(_in_dtype(thr, rows.dtype == torch.float32),
                                                      dtype=torch.float64, device=device)),
        n_rejected=families.per_family(n_rejected),
        n_tests=families.per_family(torch.as_tensor(m, device=device)),
        method=proc.name, alpha=alpha, k=k, axis=families.axis, guarantee=guarantee,
        _source=(families, fingerprint))
    if adjusted is not None:
        object.__setattr__(result, "pvalues_adjusted", families.restore(adjusted))
    return result


# ----------------------------------------------------------------------------------------------
# adjusted p-values


def _adjusted_rows(families: _Families, proc, k: int, alpha: float | None = None):
    """(B, M) float64 adjusted p-values on the device, NaN where the input is NaN."""
    torch = _torch()
    rows, m = families.rows, families.n_tests
    device = families.device
    if isinstance(proc, SpecialProcedure):
        return _special_cpu(proc, families, k, alpha, False)[0]
    if proc.step == "single":
        values = rows.to(torch.float64)
        raw = _device_raw(torch, proc, values, None, m, k)
        if raw is None:
            raw = _host_raw(torch, proc, values, False, m, k)
        return raw.clamp_max(1.0)  # NaN stays NaN, like np.minimum
    size = rows.shape[1]
    values, order = torch.sort(rows, dim=1)  # NaN last; ties in any order give the same values
    values = values.to(torch.float64)
    ranks = torch.arange(1, size + 1, device=device)
    raw = _device_raw(torch, proc, values, ranks, m, k)
    if raw is None:
        raw = _host_raw(torch, proc, values, True, m, k)
    untested = ranks > torch.as_tensor(m, device=device)[:, None] if families.has_nan else None
    if untested is not None:  # NaN sorts last: keep it out of the running extremes
        raw = raw.masked_fill(untested, -math.inf if proc.step == "down" else math.inf)
    if proc.step == "down":
        adjusted = torch.cummax(raw, dim=1).values
    else:  # running minimum from the top
        adjusted = torch.cummin(raw.flip(1), dim=1).values.flip(1)
    adjusted = adjusted.clamp_max_(1.0)
    if untested is not None:
        adjusted = adjusted.masked_fill_(untested, math.nan)
    return torch.empty_like(adjusted).scatter_(1, order, adjusted)


def adjust_torch(pvalues, method: str = "holm", *, k: int = 1, axis: int | None = None,
                 nan_policy: str = "raise", alpha: float | None = None):
    """Adjusted p-values of a torch tensor (R ``p.adjust`` semantics), on its device.

    Returns a float64 tensor of the input's shape on its device, NaN kept in place under
    ``nan_policy='omit'``: bitwise ``mtest.adjust`` of each family, except Šidák and
    Holm–Šidák (within ``SIDAK_MAX_ULPS`` ulps: torch's ``log1p``/``expm1`` are not numpy's).
    Parameters as in ``reject_torch``; ``alpha`` only for the procedures whose adjusted
    values depend on the level (the two-stage FDR procedures), as in ``mtest.adjust``.

    Examples
    --------
    >>> import torch, mtest
    >>> p = torch.tensor([[0.01, 0.04, 0.03, 0.005], [0.2, 0.01, 0.5, 0.04]])
    >>> mtest.adjust(p[0], method="holm")
    tensor([0.0300, 0.0600, 0.0600, 0.0200], dtype=torch.float64)
    >>> from mtest._torch_backend import adjust_torch
    >>> adjust_torch(p, "fdr_bh", axis=1)
    tensor([[0.0200, 0.0400, 0.0400, 0.0200],
            [0.2667, 0.0400, 0.5000, 0.0800]], dtype=torch.float64)
    """
    proc = get_procedure(method)
    k = _check_k(proc, k)
    alpha = None if alpha is None else check_alpha(alpha)
    if getattr(proc, "alpha_dependent", False) and alpha is None:
        adjusted_flat(np.zeros(0), proc, k, 0, None)  # the numpy path's error: pass alpha
    families = _families(pvalues, nan_policy, axis)
    families.check_k(k)
    return families.restore(_adjusted_rows(families, proc, k, alpha))
