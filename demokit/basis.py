"""SCB's statistical basis for population forecasts (Statistikunderlag för befolkningsprognoser).

One Dataset per call with, for every region: fertility rates and TFR, death
risks and their index, out-migration (and emigration) risks and their index,
in- and out-movers in relative numbers and the in-mover index — observed and
smoothed (METHODS §3–§5).
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ._periods import as_years, select_years
from .components import by_kind
from .cube import CubeError, validate_period
from .fertility import fertility_parts, mean_age_at_childbirth, tfr
from .migration import interval_parts
from .regions import pool
from .small_area import ClampWarning, clamp_impossible
from .smoothing import smooth
from .standardize import indirect_index

__all__ = ["statistical_basis"]


#: the exits reported besides deaths and out-movers (demokit.components.COMPONENTS)
_OTHER_EXITS = tuple(c.name for c in by_kind("exit") if c.name not in ("deaths", "out_migration"))


def _period(years, period):
    if isinstance(years, (int, np.integer)):
        if int(period) < 1:
            raise CubeError(f"period = {period!r}: must be a positive number of years")
        return list(range(int(years) - int(period) + 1, int(years) + 1))
    return [int(y) for y in as_years(years)]


def _ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return xr.where(den > 0, num / den.where(den > 0), xr.where(num > 0, np.nan, 0.0))


def _national(ds):
    return pool(ds)


def _share(counts, over):
    tot = counts.sum(over)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1000.0 * counts / tot.where(tot > 0)


def statistical_basis(ds: xr.Dataset, *, years, period: int = 5, reference="national",
                      smoothing: str = "relational", criterion: str = "bic",
                      in_variable: str = "in_migration", out_variable: str = "out_migration",
                      smooth_reference: bool = True, ci=0.95) -> xr.Dataset:
    """Return SCB's statistical basis for population forecasts for every region, observed and smoothed.

    Parameters
    ----------
    ds : xarray.Dataset
        A cube with a ``region`` dim and ``population``, ``births`` (by the
        mother's age, ``sex`` = the child's sex), ``deaths``, and the movers
        ``in_variable`` / ``out_variable`` (and ``emigration`` if present).
    years : int or sequence of int
        The period: a sequence of consecutive years, or the last year (then the
        ``period`` years ending there).  The population of the year before
        the first is needed.
    period : int
        Length of the period when ``years`` is one year (default 5).
    reference : "national" or xarray.Dataset
        ``"national"``: the sum of the cube's regions (the whole country when
        the cube is the country; for a few municipalities, their sum).  Or a
        reference cube (no ``region`` dim) with the same variables, e.g. the
        country or the county, from which the reference rates, risks and
        mover distributions are computed with the same definitions.
    smoothing : {"relational", "brass", "pspline"}
        Method of :func:`demokit.smooth` for every schedule (default the
        relational P-spline against the reference curve).
    criterion : {"bic", "aic", "gcv"}
        Chooses each curve's smoothing parameter.
    in_variable, out_variable : str
        The movers (default: moves across municipal borders within the
        country, SCB's A2/A3).
    smooth_reference : bool
        Smooth the reference schedules first (P-spline, Poisson or binomial,
        same criterion) and use them as the relational reference (default).
        A reference made of a few municipalities is itself jagged, and a
        relational fit copies its reference's shape; the national schedules
        are nearly smooth, so this changes little there.  Indices always use
        the observed reference.
    ci : float
        Confidence level of the indices' limits.

    Returns
    -------
    xarray.Dataset
        Dims ``region``, ``sex``, ``age``:

        * ``fertility_rate`` / ``fertility_rate_smoothed`` (region, age; births
          per woman), ``tfr`` / ``tfr_smoothed``, ``mean_age_at_childbirth``;
        * ``death_risk`` / ``death_risk_smoothed`` (interval risks by age at
          the end of the year, ``age_at_start`` coordinate), ``death_risk_index``
          with ``death_risk_index_lower`` / ``_upper`` (region),
          ``death_risk_index_by_age``;
        * ``out_migration_risk`` / ``out_migration_risk_smoothed``,
          ``out_migration_index`` (+ limits), ``out_migration_index_by_age``;
          ``emigration_risk`` / ``emigration_risk_smoothed`` if the cube has
          ``emigration``, and ``emigration_unknown_risk`` / ``_smoothed`` if it
          has ``emigration_unknown`` (emigrants to an unknown country);
        * ``in_migrants_per_mille`` / ``out_migrants_per_mille`` (in- and
          out-movers in relative numbers, ‰ over sex and age) and their
          ``_smoothed`` versions; ``in_migrant_index`` / ``_smoothed``;
        * the reference schedules ``reference_*``.

        ``attrs``: title, years, reference, smoothing method and criterion.
        With an ``origin`` dim (birth-region groups) the migration schedules
        are each group's own (an ``origin`` dim) and fertility and death risks
        come from the pooled events (SCB publishes no deaths or births by
        birth region for municipalities; ``attrs["origin"]``).

    Notes
    -----
    Observed values use the definitions of :func:`fertility_rates`,
    :func:`death_risks` (interval), :func:`out_migration_risks`,
    :func:`migrant_distribution`, :func:`out_migration_index`,
    :func:`in_migrant_index`: every period pools events and exposures
    (Σ events / Σ exposure).  Smoothed values: fertility — Poisson, births over
    the women's mean population by cohort; death risks — binomial (logit
    link), deaths over the population at the start; out-migration and
    emigration — Poisson (log link; out-movers may exceed the population at
    the start); movers in relative numbers — Poisson counts by sex and age
    relative to the reference distribution.  Every relational fit is
    ``g(rate_r) = g(rate_ref) + f_r(age)`` with a P-spline ``f_r`` whose λ is
    chosen per curve by ``criterion``, so the region keeps its own level and
    its own deviations from the reference shape and the fitted events equal
    the observed events.
    """
    if "origin" in ds.dims:
        kw = {k: v for k, v in locals().items() if k != "ds"}
        return _basis_by_origin(ds, **kw)
    if "region" not in ds.dims:
        raise CubeError("statistical_basis needs a 'region' dim")
    need = ["population", "births", "deaths", in_variable, out_variable]
    for v in need:
        if v not in ds:
            raise CubeError(f"statistical_basis needs {v!r}; the cube has {sorted(ds.data_vars)}")
    if smoothing not in ("relational", "brass", "pspline"):
        raise CubeError(f"smoothing = {smoothing!r}: expected 'relational', 'brass' or 'pspline'")
    yrs = _period(years, period)
    used = need + [v for v in _OTHER_EXITS if v in ds]
    validate_period(select_years(ds[used], yrs, need_previous=True).assign_attrs(ds.attrs))   # named errors first
    ref_ds, ref_note = _reference_cube(ds, reference, need)
    fits = _Fits(smoothing=smoothing, criterion=criterion, smooth_reference=smooth_reference)
    out = xr.Dataset()
    expo = _fertility_basis(out, ds, ref_ds, yrs, fits)
    _mortality_basis(out, ds, ref_ds, yrs, fits, ci)
    _out_migration_basis(out, ds, ref_ds, yrs, fits, ci, out_variable)
    _mover_basis(out, ds, ref_ds, yrs, fits, in_variable, out_variable)
    out = out.assign_coords(age_at_start=("age", out["age"].values - 1))
    if "region_name" in ds.coords:
        out = out.assign_coords(region_name=ds["region_name"])
    for k, v in _UNITS.items():
        if k in out:
            out[k].attrs.setdefault("units", v)
    out.attrs = {
        "title": "Statistikunderlag för befolkningsprognoser (SCB's statistical basis for population forecasts)",
        "years": f"{yrs[0]}-{yrs[-1]}",
        "reference": ref_note,
        "smoothing": f"{smoothing} (P-spline deviation from the reference; lambda per curve by "
                     f"{criterion.upper()}); fertility and migration Poisson/log, death risks binomial/logit",
        "risks": "interval risks indexed by age at the end of the year (age 0: born in the year); "
                 "age_at_start = age - 1",
        "in_variable": in_variable,
        "out_variable": out_variable,
        "fertility_exposure": f"women's mean population by {expo}",
        "smoothed_reference": str(bool(smooth_reference and smoothing != "pspline")),
        "clamped_cells": int(sum(fits.clamped.values())),
        "clamped": ", ".join(f"{k}: {v}" for k, v in fits.clamped.items() if v) or "none",
    }
    if out.attrs["clamped_cells"]:
        warnings.warn(f"statistical_basis: {out.attrs['clamped']} cell(s) with more events than persons at risk "
                      "were clamped for the smoothed values (attrs['clamped'])", ClampWarning, stacklevel=2)
    return out


_UNITS = {
    "death_risk": "1", "death_risk_smoothed": "1", "reference_death_risk": "1",
    "out_migration_risk": "1", "out_migration_risk_smoothed": "1", "reference_out_migration_risk": "1",
    "emigration_risk": "1", "emigration_risk_smoothed": "1", "reference_emigration_risk": "1",
    **{f"{p}{n}_risk{q}": "1" for n in _OTHER_EXITS for p, q in (("", ""), ("", "_smoothed"), ("reference_", ""))},
    "reference_fertility_rate": "births per woman per year",
    "death_risk_index": "percent", "out_migration_index": "percent", "in_migrant_index": "percent",
    "in_migrants_per_mille": "per mille", "out_migrants_per_mille": "per mille",
    "tfr": "children per woman", "tfr_smoothed": "children per woman",
}


def _reference_cube(ds, reference, need):
    """The reference cube of :func:`statistical_basis` and a note saying what it is."""
    if isinstance(reference, str):
        if reference != "national":
            raise CubeError(f"reference must be 'national' or a reference cube (xarray.Dataset), got {reference!r}")
        return _national(ds), f"the sum of the cube's {ds.sizes['region']} regions"
    if not isinstance(reference, xr.Dataset):
        raise CubeError("reference must be 'national' or an xarray.Dataset (a reference cube)")
    if "region" in reference.dims:
        if reference.sizes["region"] != 1:
            raise CubeError("a reference cube must have no 'region' dim (or a single region)")
        reference = reference.squeeze("region", drop=True)
    for v in need:
        if v not in reference:
            raise CubeError(f"the reference cube has no {v!r}")
    return reference, str(reference.attrs.get("title", "a reference cube passed by the user"))


class _Fits:
    """The smoothing of :func:`statistical_basis`: relational fits and smoothed reference shapes."""

    def __init__(self, *, smoothing, criterion, smooth_reference):
        self.sm = dict(method=smoothing, criterion=criterion)
        self.smooth_reference = smooth_reference and smoothing != "pspline"
        self.clamped = {}

    def fit(self, events, exposure, reference, name, link="log"):
        """Smooth, with impossible cells (events above the number at risk, CKM noise) clamped and counted."""
        expo, over = clamp_impossible(events, exposure, link=link)
        self.clamped[name] = int(over.sum())
        return smooth(events=events, exposure=expo, reference=reference, link=link, **self.sm)

    def counts(self, events, reference):
        """Smooth counts (exposure 1 per cell) relative to a reference distribution."""
        return smooth(events=events, exposure=xr.ones_like(events), reference=reference, **self.sm)

    def ref_shape(self, events, exposure, observed, link="log", structural_zeros=False):
        """The relational reference: the smoothed reference schedule, or the observed one."""
        if not self.smooth_reference:
            return observed
        r = smooth(events=events, exposure=exposure, method="pspline", link=link,
                   criterion=self.sm["criterion"])["rate"]
        r = r.where(exposure > 0, observed)
        if structural_zeros:
            r = r.where(observed > 0, 0.0)
        return r


def _fertility_basis(out, ds, ref_ds, yrs, fits) -> str:
    """Fertility rates, observed and smoothed, TFR and mean age; returns the exposure's kind."""
    B, M, _, conv, expo, _ = fertility_parts(ds, years=yrs)
    Bn, Mn, *_ = fertility_parts(ref_ds, years=yrs)
    f = _ratio(B, M)
    f.attrs = {"units": "births per woman per year", "age_convention": conv}
    f_ref = _ratio(Bn, Mn)
    fs = fits.fit(B, M, fits.ref_shape(Bn, Mn, f_ref, structural_zeros=True), "births")
    out["fertility_rate"] = f
    out["fertility_rate_smoothed"] = fs["rate"]
    out["fertility_rate_smoothed"].attrs = {"units": "births per woman per year", "age_convention": conv}
    # (an age with births but no women has a NaN observed rate: it adds nothing to the observed TFR and mean age)
    out["tfr"] = tfr(f.fillna(0.0))
    out["tfr_smoothed"] = tfr(out["fertility_rate_smoothed"])
    out["mean_age_at_childbirth"] = mean_age_at_childbirth(f.fillna(0.0))
    out["reference_fertility_rate"] = f_ref
    return expo


def _mortality_basis(out, ds, ref_ds, yrs, fits, ci) -> None:
    """Interval death risks, observed and smoothed, and their index (total and by age)."""
    D, P, _ = interval_parts(ds, "deaths", years=yrs)
    Dn, Pn, _ = interval_parts(ref_ds, "deaths", years=yrs)
    q = _ratio(D, P)
    q_ref = _ratio(Dn, Pn)
    qs = fits.fit(D, P, fits.ref_shape(Dn, Pn, q_ref, link="logit"), "deaths", link="logit")
    out["death_risk"] = q
    out["death_risk_smoothed"] = qs["rate"]
    out["reference_death_risk"] = q_ref
    over = [d for d in ("sex", "age") if d in P.dims]
    di = indirect_index(D, P, q_ref, ci=ci, dim=over)
    out["death_risk_index"] = di["index"]
    out["death_risk_index_lower"] = di["lower"]
    out["death_risk_index_upper"] = di["upper"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["death_risk_index_by_age"] = (100.0 * q.where(D > 0) / q_ref.where(q_ref > 0))
        out["death_risk_index_by_age_smoothed"] = 100.0 * qs["rate"] / q_ref.where(q_ref > 0)


def _out_migration_basis(out, ds, ref_ds, yrs, fits, ci, out_variable) -> None:
    """Out-migration risks, observed and smoothed, their index; emigration risks if the cube has them."""
    O, PO, _ = interval_parts(ds, out_variable, years=yrs)
    On, POn, _ = interval_parts(ref_ds, out_variable, years=yrs)
    u = _ratio(O, PO)
    u_ref = _ratio(On, POn)
    us = fits.fit(O, PO, fits.ref_shape(On, POn, u_ref), out_variable)
    out["out_migration_risk"] = u
    out["out_migration_risk_smoothed"] = us["rate"]
    out["reference_out_migration_risk"] = u_ref
    over = [d for d in ("sex", "age") if d in PO.dims]
    oi = indirect_index(O, PO, u_ref, ci=ci, dim=over)
    out["out_migration_index"] = oi["index"]
    out["out_migration_index_lower"] = oi["lower"]
    out["out_migration_index_upper"] = oi["upper"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["out_migration_index_by_age"] = 100.0 * u.where(O > 0) / u_ref.where(u_ref > 0)
        out["out_migration_index_by_age_smoothed"] = 100.0 * us["rate"] / u_ref.where(u_ref > 0)
    for name in _OTHER_EXITS:   # emigration, emigration to an unknown country (the component table)
        if name not in ds or name not in ref_ds:
            continue
        EM, PE, _ = interval_parts(ds, name, years=yrs)
        EMn, PEn, _ = interval_parts(ref_ds, name, years=yrs)
        e_ref = _ratio(EMn, PEn)
        out[f"{name}_risk"] = _ratio(EM, PE)
        out[f"{name}_risk_smoothed"] = fits.fit(EM, PE, fits.ref_shape(EMn, PEn, e_ref), name)["rate"]
        out[f"reference_{name}_risk"] = e_ref


def _mover_basis(out, ds, ref_ds, yrs, fits, in_variable, out_variable) -> None:
    """In- and out-movers in relative numbers (per mille over sex and age) and the in-mover index."""
    for kind, var in (("in", in_variable), ("out", out_variable)):
        C = ds[var].sel(year=yrs).sum("year")
        Cn = ref_ds[var].sel(year=yrs).sum("year")
        mover_over = [d for d in ("sex", "age") if d in C.dims]
        share = _share(C, mover_over)
        share_ref = _share(Cn, mover_over)
        # smoothed: counts by sex and age relative to the reference distribution
        # (exposure 1 per cell; the fitted counts keep each region's total)
        cs = fits.counts(C, fits.ref_shape(Cn, xr.ones_like(Cn), Cn))
        out[f"{kind}_migrants_per_mille"] = share
        out[f"{kind}_migrants_per_mille_smoothed"] = _share(cs["rate"], mover_over)
        out[f"reference_{kind}_migrants_per_mille"] = share_ref
        if kind == "in":
            with np.errstate(divide="ignore", invalid="ignore"):
                out["in_migrant_index"] = 100.0 * share / share_ref.where(share_ref > 0)
                out["in_migrant_index_smoothed"] = (100.0 * out["in_migrants_per_mille_smoothed"]
                                                    / share_ref.where(share_ref > 0))


_MIGRATION_PREFIXES = ("out_migration", "emigration", "in_migrant", "out_migrant", "reference_out_migration",
                       "reference_emigration", "reference_in_migrant", "reference_out_migrant")


def _basis_by_origin(ds, **options):
    """:func:`statistical_basis` by birth-region group: migration by group, fertility and deaths pooled."""
    from .assumptions import _each_group, _origin_parts
    pooled, parts, groups = _origin_parts(ds)
    base = statistical_basis(pooled, **options)
    per = _each_group(statistical_basis, parts, groups, **options)
    out = base.copy()
    for v in base.data_vars:
        if v.startswith(_MIGRATION_PREFIXES) and all(v in p for p in per):
            out[v] = xr.concat([p[v] for p in per], dim=xr.DataArray(groups, dims="origin", name="origin"))
    out.attrs["origin"] = ("migration schedules by origin group; fertility and death risks pooled over origin "
                           "(no deaths or births by birth region for municipalities)")
    return out
