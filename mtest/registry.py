"""The registry of multiple-testing procedures, and what each one guarantees, as data.

A procedure is one of two kinds:

* ``StepwiseProcedure`` — single-step, step-down or step-up, written as a *transform*
  ``raw(values, ranks, m, k)``: the raw adjusted p-value g_i(p) of the i-th smallest p-value
  (Holm: ``(m - i + 1) * p``). The stepwise engine (``mtest._stepwise``) derives the exact
  critical values, the fast counting-form rejections and the adjusted p-values from that one
  function, so they cannot disagree.
* ``SpecialProcedure`` — a procedure with its own adjusted p-values of sorted input
  (Hommel), rejecting where the adjusted p-value is ``<= alpha``.

Every procedure declares the error rate it controls (``'fwer'``, ``'kfwer'``, ``'fdr'``) and the
dependence under which it does (``'arbitrary'``, ``'prds'``, ``'positive-orthant'``,
``'independent'``); ``Procedure.guarantee`` turns that into a ``Guarantee`` for given
``k`` and ``alpha``. Certification (``mtest.segcertify``) accepts only procedures whose
guarantee is FWER or k-FWER under arbitrary dependence, because the components of one input are
tested on the same noisy samples.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = [
    "NotBelowP",
    "ERROR_RATES",
    "DEPENDENCE",
    "Guarantee",
    "Procedure",
    "StepwiseProcedure",
    "SpecialProcedure",
    "PROCEDURES",
    "register",
    "get_procedure",
    "procedures_table",
]

#: error rates a procedure can control: FWER = P(any false rejection); k-FWER = P(k or more false
#: rejections) (FWER is k = 1); FDR = E[false rejections / max(rejections, 1)]
ERROR_RATES = ("fwer", "kfwer", "fdr")

#: dependence assumptions, from weakest to strongest requirement on the p-values. 'prds': positive
#: regression dependence on the subset of true nulls (Benjamini & Yekutieli 2001);
#: 'positive-orthant': positive lower orthant dependence (Šidák 1967)
DEPENDENCE = ("arbitrary", "prds", "positive-orthant", "independent")

_RATE_TEXT = {"fwer": "FWER", "kfwer": "k-FWER", "fdr": "FDR"}
_DEPENDENCE_TEXT = {
    "arbitrary": "arbitrary dependence",
    "prds": "independence or positive regression dependence (PRDS)",
    "positive-orthant": "independence or positive orthant dependence",
    "independent": "independence",
}


@dataclass(frozen=True)
class Guarantee:
    """What a procedure run controls, as data.

    Attributes
    ----------
    error_rate : {'fwer', 'kfwer', 'fdr'}
        ``'kfwer'`` only for k > 1 (with k = 1 the k-FWER is the FWER).
    dependence : {'arbitrary', 'prds', 'positive-orthant', 'independent'}
        The weakest dependence among the p-values under which the bound is proven.
    k : int
        k of k-FWER (1 otherwise).
    alpha : float or None
        The level the bound holds at.
    subject : str or None
        What the rejections are, when a result states its guarantee in those terms (e.g.
        ``'certified components'``). An FDR guarantee with a subject spells out its meaning in
        ``str``, because it is an average over the sampling, not a statement about one run.

    Examples
    --------
    >>> import mtest
    >>> g = mtest.get_procedure("holm").guarantee(alpha=0.05)
    >>> str(g)
    'FWER <= 0.05 under arbitrary dependence'
    >>> g.valid_under_arbitrary_dependence, g.is_familywise
    (True, True)
    """

    error_rate: str
    dependence: str
    k: int = 1
    alpha: float | None = None
    subject: str | None = None

    @property
    def valid_under_arbitrary_dependence(self) -> bool:
        return self.dependence == "arbitrary"

    @property
    def is_familywise(self) -> bool:
        """FWER or k-FWER (a statement about every rejection at once, not an average)."""
        return self.error_rate in ("fwer", "kfwer")

    @property
    def certifies(self) -> bool:
        """Whether SEGCERTIFY may use it: FWER or k-FWER under arbitrary dependence.

        The components of one input are tested on the same noisy samples, so nothing is known
        about their dependence; an FDR bound is an average over runs, not a statement about the
        certified components of this one.
        """
        return self.is_familywise and self.valid_under_arbitrary_dependence

    @property
    def certifies_fdr(self) -> bool:
        """Whether ``segcertify(..., error_rate='fdr')`` may use it: FDR under arbitrary dependence.

        Only then does the bound hold whatever the model makes of the shared noise (BY; not BH,
        whose PRDS condition the components of one input need not meet: docs/theory.md).
        """
        return self.error_rate == "fdr" and self.valid_under_arbitrary_dependence

    def __str__(self) -> str:
        level = "alpha" if self.alpha is None else repr(self.alpha)
        if self.error_rate == "kfwer":
            what = f"P({self.k} or more false rejections) <= {level}"
        else:
            what = f"{_RATE_TEXT[self.error_rate]} <= {level}"
        text = f"{what} under {_DEPENDENCE_TEXT[self.dependence]}"
        if self.subject is not None and self.error_rate == "fdr":
            text += f" (expected fraction of {self.subject} that are wrong <= {level})"
        return text


@dataclass(frozen=True, kw_only=True)
class Procedure:
    """A registered multiple-testing procedure (the common part of both kinds).

    Attributes
    ----------
    name : str
        Canonical name (what results report).
    aliases : tuple of str
        Other names accepted by ``get_procedure`` (statsmodels and R spellings).
    error_rate : {'fwer', 'kfwer', 'fdr'}
        What it controls; ``'kfwer'`` for procedures that take ``k`` (k = 1 is the FWER).
    dependence : {'arbitrary', 'prds', 'positive-orthant', 'independent'}
        Under which dependence among the p-values the control is proven.
    reference : str
        Where the procedure and its guarantee come from.
    formula : str
        The transform or rule in words, for the generated table of procedures.
    adjusted_below_p : bool
        ``True`` for the adaptive FDR procedures whose adjusted p-values fall below the
        p-value by design (an estimate of the number of true nulls scales them down).
        ``False`` (default): adjusted >= p holds exactly, in every scale: a transform value
        that rounding left one ulp below p is raised to p.
    """

    name: str
    aliases: tuple = ()
    error_rate: str
    dependence: str
    reference: str = ""
    formula: str = ""
    adjusted_below_p: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string; got {self.name!r}")
        if self.error_rate not in ERROR_RATES:
            raise ValueError(f"error_rate ({self.error_rate!r}) not recognized; use one of "
                             f"{', '.join(map(repr, ERROR_RATES))}")
        if self.dependence not in DEPENDENCE:
            raise ValueError(f"dependence ({self.dependence!r}) not recognized; use one of "
                             f"{', '.join(map(repr, DEPENDENCE))}")

    def __reduce_ex__(self, protocol):
        # a registered procedure pickles as its name (its transforms may be lambdas), so that
        # results, which carry their procedure, pass between processes; an unregistered one
        # pickles field by field (and needs picklable callables)
        if PROCEDURES.get(self.name) is self:
            return get_procedure, (self.name,)
        return object.__reduce_ex__(self, protocol)

    @property
    def uses_k(self) -> bool:
        """Whether the procedure takes ``k`` (k-FWER: P(k or more false rejections) <= alpha)."""
        return self.error_rate == "kfwer"

    def guarantee(self, k: int = 1, alpha: float | None = None, subject: str | None = None) -> Guarantee:
        """The ``Guarantee`` of a run with this ``k`` and ``alpha`` (``subject``: see there)."""
        rate = self.error_rate
        if rate == "kfwer" and k == 1:
            rate = "fwer"
        return Guarantee(error_rate=rate, dependence=self.dependence, k=int(k), alpha=alpha,
                         subject=subject)

    @property
    def controls(self) -> str:
        """The guarantee in words (generic ``k`` and ``alpha``)."""
        if self.error_rate == "kfwer":
            return (f"k-FWER, P(k or more false rejections) <= alpha (FWER for k = 1), under "
                    f"{_DEPENDENCE_TEXT[self.dependence]}")
        return f"{_RATE_TEXT[self.error_rate]} under {_DEPENDENCE_TEXT[self.dependence]}"


_STEPS = ("single", "down", "up")


class NotBelowP:
    """A transform raised to the p-value where rounding left it below: ``max(raw(p), p)``.

    Mathematically g_i(p) >= p for these procedures, but a transform such as Šidák's
    ``-expm1(log1p(-p))`` can round one ulp below p. The maximum keeps the transform monotone in
    p, so rejections, thresholds and adjusted values stay consistent with each other.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: Callable):
        self.raw = raw

    def __call__(self, values, ranks, m, k):
        return np.maximum(self.raw(values, ranks, m, k), values)

    def __eq__(self, other):
        return isinstance(other, NotBelowP) and self.raw == other.raw

    def __hash__(self):
        return hash(self.raw)

    def __reduce__(self):
        return NotBelowP, (self.raw,)

    def __repr__(self):
        return f"NotBelowP({self.raw!r})"


@dataclass(frozen=True, kw_only=True)
class StepwiseProcedure(Procedure):
    """A single-step, step-down or step-up procedure in transform form.

    Attributes
    ----------
    step : {'single', 'down', 'up'}
        Adjusted p-values are ``min(1, g(p))`` (single step), the running maximum over sorted
        ranks (step-down) or the running minimum from the top (step-up) of ``min(1, g_i(p(i)))``.
    raw : callable
        ``raw(values, ranks, m, k)``: float64 raw adjusted values g_i of sorted p-values at
        1-based ``ranks`` (``ranks`` is ``None`` for single-step procedures); nondecreasing in
        the value and nonincreasing in the rank.
    critical_guess : callable
        ``critical_guess(ranks, m, k, alpha)``: the inverse of ``raw`` at ``alpha`` up to
        rounding; the engine finds the exact critical value from it (a poor guess costs time,
        never correctness).
    name : str
        Canonical name (what results report).
    aliases : tuple of str
        Other names accepted by ``get_procedure``.
    error_rate : {'fwer', 'kfwer', 'fdr'}
        What it controls.
    dependence : {'arbitrary', 'prds', 'positive-orthant', 'independent'}
        Under which dependence the control is proven.
    reference : str
        Where the procedure and its guarantee come from.
    formula : str
        The transform or rule in words.
    adjusted_below_p : bool
        ``True`` when adjusted values fall below p by design (adaptive FDR); ``False``
        (default): ``raw`` is wrapped in ``NotBelowP``, so adjusted >= p holds exactly.
    """

    step: str
    raw: Callable
    critical_guess: Callable

    def __post_init__(self):
        super().__post_init__()
        if self.step not in _STEPS:
            raise ValueError(f"step ({self.step!r}) not recognized; use one of "
                             f"{', '.join(map(repr, _STEPS))}")
        for attr in ("raw", "critical_guess"):
            if not callable(getattr(self, attr)):
                raise ValueError(f"{attr} must be callable; got {getattr(self, attr)!r}")
        if not self.adjusted_below_p and not isinstance(self.raw, NotBelowP):
            # every path (critical values, counting, adjusted values, Dask, files, torch's host
            # transform) calls raw: the one place where adjusted >= p is made exact
            object.__setattr__(self, "raw", NotBelowP(self.raw))


@dataclass(frozen=True, kw_only=True)
class SpecialProcedure(Procedure):
    """A procedure with its own adjusted p-values of sorted input (e.g. Hommel's).

    Attributes
    ----------
    adjust_sorted : callable
        ``adjust_sorted(values, k)``: adjusted p-values (float64, in [0, 1]) of ascending
        float64 ``values``, in the same order. A hypothesis is rejected iff its adjusted
        p-value is ``<= alpha``.
    alpha_dependent : bool
        ``True`` when the adjusted p-values depend on the level (the two-stage adaptive FDR
        procedures): ``adjust_sorted`` is then called as ``adjust_sorted(values, k, alpha)``
        and ``mtest.adjust`` needs ``alpha``.
    name : str
        Canonical name (what results report).
    aliases : tuple of str
        Other names accepted by ``get_procedure``.
    error_rate : {'fwer', 'kfwer', 'fdr'}
        What it controls.
    dependence : {'arbitrary', 'prds', 'positive-orthant', 'independent'}
        Under which dependence the control is proven.
    reference : str
        Where the procedure and its guarantee come from.
    formula : str
        The transform or rule in words.
    adjusted_below_p : bool
        ``True`` when adjusted values fall below p by design (adaptive FDR); ``False``
        (default): the engine raises any adjusted value below its p-value to it.
    """

    adjust_sorted: Callable
    alpha_dependent: bool = False

    def __post_init__(self):
        super().__post_init__()
        if not callable(self.adjust_sorted):
            raise ValueError(f"adjust_sorted must be callable; got {self.adjust_sorted!r}")


PROCEDURES: dict[str, Procedure] = {}
_ALIASES: dict[str, str] = {}
_BUILTIN: set[str] = set()


def register(procedure: Procedure, *, replace: bool = False) -> Procedure:
    """Add ``procedure`` to the registry under its name and aliases (case-insensitive).

    A name or alias that is already taken is refused with a ``ValueError``; ``replace=True``
    replaces a procedure registered earlier by the user, never a built-in one.

    Parameters
    ----------
    procedure : Procedure
        A ``StepwiseProcedure`` or ``SpecialProcedure``.
    replace : bool
        Replace a user-registered procedure of the same name or alias (never a built-in).

    Returns
    -------
    Procedure
        ``procedure``, now reachable by its name and aliases.

    Examples
    --------
    >>> import dataclasses, numpy as np, mtest
    >>> my_bonf = mtest.StepwiseProcedure(
    ...     name="my-bonferroni", error_rate="fwer", dependence="arbitrary", step="single",
    ...     raw=lambda v, r, m, k: np.asarray(v, dtype=float) * m,
    ...     critical_guess=lambda r, m, k, a: np.full(np.shape(r), a / m))
    >>> mtest.reject([0.01, 0.2], 0.05, method=my_bonf).reject   # unregistered: pass the object
    array([ True, False])
    >>> mtest.register(dataclasses.replace(my_bonf, name="holm"))
    Traceback (most recent call last):
    ...
    ValueError: procedure name or alias 'holm' belongs to the built-in procedure 'holm' and cannot be replaced; choose another name
    """
    if not isinstance(procedure, Procedure) or type(procedure) is Procedure:
        raise ValueError("procedure must be a StepwiseProcedure or SpecialProcedure; got "
                         f"{procedure!r}")
    names = [procedure.name, *procedure.aliases]
    for alias in names:
        if not isinstance(alias, str) or not alias:
            raise ValueError(f"aliases must be non-empty strings; got {alias!r}")
        owner = _ALIASES.get(alias.lower())
        if owner is None:
            continue
        if owner in _BUILTIN:
            raise ValueError(f"procedure name or alias {alias!r} belongs to the built-in "
                             f"procedure {owner!r} and cannot be replaced; choose another name")
        if not replace:
            raise ValueError(f"procedure name or alias {alias!r} is already registered (for "
                             f"{owner!r}); pass replace=True to replace a procedure you registered")
    if replace:
        for owner in {_ALIASES.get(a.lower()) for a in names} - {None}:
            _unregister(owner)
    PROCEDURES[procedure.name] = procedure
    for alias in names:
        _ALIASES[alias.lower()] = procedure.name
    return procedure


def _unregister(name: str) -> None:
    PROCEDURES.pop(name, None)
    for alias in [a for a, owner in _ALIASES.items() if owner == name]:
        del _ALIASES[alias]


def mark_builtin() -> None:
    """Record every procedure registered so far as built-in (called once by mtest.procedures)."""
    _BUILTIN.update(PROCEDURES)


def get_procedure(method: Any) -> Procedure:
    """Look up a procedure by name or alias (case-insensitive); ``ValueError`` lists the valid names.

    Parameters
    ----------
    method : str or Procedure
        A name or alias from ``PROCEDURES``, or a procedure object (returned as is).

    Returns
    -------
    Procedure
        The registered procedure.

    Examples
    --------
    >>> import mtest
    >>> mtest.get_procedure("BH").name
    'fdr_bh'
    """
    if isinstance(method, Procedure):
        return method
    if isinstance(method, str) and method.lower() in _ALIASES:
        return PROCEDURES[_ALIASES[method.lower()]]
    if isinstance(method, str) and method.lower() == "none":
        # R's p.adjust(method = "none") is the identity: it controls no error rate, so it is not a
        # procedure with a guarantee; the R drop-in has it
        raise ValueError(
            "method ('none') is R's identity adjustment and controls no error rate, so it is not a "
            "registered procedure; use mtest.compat.p_adjust(p, 'none') for R's semantics")
    names = ", ".join(repr(n) for n in PROCEDURES)
    raise ValueError(
        f"method ({method!r}) not recognized; use one of {names} "
        f"(aliases: {', '.join(sorted(a for a in _ALIASES if a not in PROCEDURES))})")


_STEP_TEXT = {"single": "single step", "down": "step-down", "up": "step-up"}
_VALID_TEXT = {
    "arbitrary": "any dependence",
    "prds": "independence, PRDS",
    "positive-orthant": "independence, positive orthant dependence",
    "independent": "independence",
}


def procedures_table(procedures=None) -> str:
    """The markdown table of procedures in docs/procedures.md, generated from the registry.

    One row per procedure: name, aliases, kind, transform, the declared error rate and dependence
    (the data of ``Procedure.guarantee``), whether ``mtest.segcertify`` accepts it ('yes'
    for FWER certification, "with error_rate='fdr'" for FDR certification), and the
    reference for the procedure and its guarantee.

    Examples
    --------
    >>> import mtest
    >>> print(mtest.registry.procedures_table().splitlines()[2])  # doctest: +ELLIPSIS
    | `bonferroni` | `b`, `bonf` | single step | (m/k) p | k-FWER (FWER for k = 1) | any dependence | yes | ...
    """
    rows = [
        "| name | aliases | type | g_i(p) | controls | valid under | SEGCERTIFY | reference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for proc in (PROCEDURES if procedures is None else procedures).values():
        kind = (_STEP_TEXT[proc.step] if isinstance(proc, StepwiseProcedure)
                else "own adjusted values")
        rate = ("k-FWER (FWER for k = 1)" if proc.error_rate == "kfwer"
                else _RATE_TEXT[proc.error_rate])
        aliases = ", ".join(f"`{a}`" for a in proc.aliases) or "—"
        g = proc.guarantee()
        certifies = "yes" if g.certifies else "`error_rate='fdr'`" if g.certifies_fdr else "no"
        rows.append(f"| `{proc.name}` | {aliases} | {kind} | {proc.formula or '—'} | {rate} | "
                    f"{_VALID_TEXT[proc.dependence]} | {certifies} | {proc.reference or '—'} |")
    return "\n".join(rows) + "\n"


# The built-in procedures register themselves on import; importing the registry alone (e.g.
# ``from mtest.registry import get_procedure``) must see them too.
from . import procedures as _procedures  # noqa: E402,F401
