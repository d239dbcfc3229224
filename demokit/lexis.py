"""Lexis conversions between age at the event and age at the end of the year (METHODS §1)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .cube import AGE_CONVENTIONS, SIGNED_VARIABLES, CubeError, age_convention, check_counts, check_single_years

__all__ = ["at_event_to_year_end", "year_end_to_at_event", "to_convention"]


def _check_events(da: xr.DataArray) -> None:
    """Raise :class:`CubeError` at a gap in the single years of age (the triangles would move across it) or a
    negative count (a NaN stays NaN in the result)."""
    check_single_years(da, "a Lexis conversion (events move to the neighbouring age)")
    name = da.name or "events"
    check_counts(da, name, allow_negative=name in SIGNED_VARIABLES, allow_nan=True, max_count=np.inf)


def check_shares(**shares) -> None:
    """Raise :class:`CubeError` naming the first share (``lower_share=``, ``boys_share=``...) outside [0, 1].

    Called where a share is given, whether or not the data need it (a
    ``lower_share=1.5`` is an error even when the deaths need no Lexis
    split); ``None`` (not given) passes.
    """
    for name, v in shares.items():
        if v is None:
            continue
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise CubeError(f"{name} = {v!r}: a share must be a number in [0, 1]") from None
        if not 0.0 <= x <= 1.0:   # NaN fails too
            raise CubeError(f"{name} = {v!r}: a share must lie in [0, 1]")


def _shares(n_age: int, lower_share: float, infant_lower_share: float) -> np.ndarray:
    check_shares(lower_share=lower_share, infant_lower_share=infant_lower_share)
    s = np.full(n_age, float(lower_share))
    s[0] = float(infant_lower_share)
    return s


def at_event_to_year_end(da: xr.DataArray, *, lower_share: float = 0.5,
                         infant_lower_share: float = 0.9) -> xr.DataArray:
    """Return events by age at the end of the year from events by completed age at the event.

    Parameters
    ----------
    da : xarray.DataArray
        Events (e.g. deaths) by completed age ``x`` at the event (Lexis
        squares), with an ``age`` dim of single years whose last age is open.
    lower_share : float, default 0.5
        Share of a square's events in its lower triangle (after the birthday
        in the year) for ages ≥ 1.
    infant_lower_share : float, default 0.9
        The same share at age 0.  Most infant deaths occur soon after birth,
        so the share of infant deaths in the calendar year of birth is about
        ``1 − a0`` (Swedish ``a0`` ≈ 0.1) **[choice]**; estimate it from
        triangle data where available.

    Returns
    -------
    xarray.DataArray
        Events by age reached at the end of the year, ``attrs["age_convention"]
        = "year_end"`` and the approximation recorded in ``attrs["lexis_split"]``.

    Notes
    -----
    The lower triangle of square ``x`` belongs to year-end age ``x``, its upper
    triangle to year-end age ``x + 1``:

    .. math:: E_{ye}(x) = s_x E_{ae}(x) + (1 - s_{x-1}) E_{ae}(x - 1)

    and the open age ``ω`` gathers everything at or above it,
    ``E_ye(ω) = E_ae(ω) + (1 − s_{ω−1}) E_ae(ω − 1)``.  Totals are preserved.
    """
    if "age" not in da.dims:
        raise CubeError(f"{da.name}: no 'age' dim to convert")
    conv = da.attrs.get("age_convention", "at_event")
    if conv != "at_event":
        raise CubeError(f"{da.name}: age_convention is {conv!r}, expected 'at_event'")
    _check_events(da)
    n = da.sizes["age"]
    s = xr.DataArray(_shares(n, lower_share, infant_lower_share), dims="age", coords={"age": da["age"]})
    lower = da * s
    upper = (da - lower).shift(age=1, fill_value=0.0)
    out = lower + upper
    # open age keeps its own upper triangle too
    last = da["age"].values[-1]
    out.loc[{"age": last}] = out.sel(age=last) + (da - lower).sel(age=last)
    out = out.transpose(*da.dims)
    out.name = da.name
    out.attrs = dict(da.attrs)
    out.attrs["age_convention"] = "year_end"
    out.attrs["lexis_split"] = (f"converted from age at the event: lower-triangle share {lower_share} "
                                f"(age 0: {infant_lower_share}); E_ye(x) = s*E_ae(x) + (1-s)*E_ae(x-1)")
    return out


def year_end_to_at_event(da: xr.DataArray, *, upper_share: float = 0.5) -> xr.DataArray:
    """Return events by completed age at the event from events by age at the end of the year.

    Parameters
    ----------
    da : xarray.DataArray
        Events by age ``x`` reached at the end of the year (Lexis
        parallelograms).
    upper_share : float, default 0.5
        Share of a parallelogram's events (ages ≥ 1) that happened before the
        birthday, i.e. at completed age ``x − 1`` (its upper triangle).

    Returns
    -------
    xarray.DataArray
        ``attrs["age_convention"] = "at_event"``; totals preserved.

    Notes
    -----
    Parallelogram 0 (born in the year) lies wholly at completed age 0; for
    ``x ≥ 1``: ``E_ae(x) = (1 − u) E_ye(x) + u E_ye(x + 1)`` and the open age keeps
    ``(1 − u) E_ye(ω)``.
    """
    if "age" not in da.dims:
        raise CubeError(f"{da.name}: no 'age' dim to convert")
    conv = da.attrs.get("age_convention", "year_end")
    if conv != "year_end":
        raise CubeError(f"{da.name}: age_convention is {conv!r}, expected 'year_end'")
    _check_events(da)
    if not 0.0 <= upper_share <= 1.0:
        raise CubeError(f"upper_share = {upper_share!r}: a share must lie in [0, 1]")
    u = xr.DataArray(np.r_[0.0, np.full(da.sizes["age"] - 1, float(upper_share))], dims="age",
                     coords={"age": da["age"]})
    upper = da * u
    out = (da - upper) + upper.shift(age=-1, fill_value=0.0)
    out = out.transpose(*da.dims)
    out.name = da.name
    out.attrs = dict(da.attrs)
    out.attrs["age_convention"] = "at_event"
    out.attrs["lexis_split"] = f"converted from age at the end of the year: upper-triangle share {upper_share}"
    return out


def to_convention(da: xr.DataArray, convention: str, **options) -> xr.DataArray:
    """Return ``da`` in the requested age convention, converting with the Lexis split if needed."""
    if convention not in AGE_CONVENTIONS:
        raise CubeError(f"unknown age convention {convention!r}; expected one of {AGE_CONVENTIONS}")
    check_shares(**options)   # even when no conversion is needed
    have = age_convention(da)
    if have == convention:
        return da
    if convention == "year_end":
        return at_event_to_year_end(da, **options)
    return year_end_to_at_event(da, **options)
