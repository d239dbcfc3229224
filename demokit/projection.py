"""Population projection: the assumptions and the cohort-component engine (METHODS §6).

:class:`Assumptions` holds the inputs of a projection as xarray objects; each
may carry ``year``, ``scenario``, ``draw`` or any other extra dim, which
broadcast (they are never looped over in Python).  :func:`project` runs the
annual multiregional engine (single years of age, one-year steps) or the
textbook ``n``-year variant (survival ratios and net migrants) in one Numba
kernel; :func:`constrain` scales sub-area projections to a parent projection.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from ._apply import check_core_chunks, is_dask
from ._kernels import projection as _k
from .cube import CubeError, DemokitError, SEXES, check_counts, first_cell

__all__ = ["AssumptionError", "Assumptions", "constrain", "project"]

#: SCB's share of boys among live births (about 0.513; METHODS §4)
BOYS_SHARE = 0.513

_CELL = ("year", "region", "sex", "age")
_REGION = ("year", "region")
_FERT = ("year", "region", "age")
# the annual kernel's layout: region last (see demokit._kernels.projection)
_CELL_A = ("year", "sex", "age", "region")
_FERT_A = ("year", "age", "region")
_POP_CORE = {"annual": ("sex", "age", "region"), "nyear": ("region", "sex", "age")}

_ANNUAL = {
    # name: (core dims, kind)
    "death_risks": (_CELL_A, "risk"),
    "out_migration_risks": (_CELL_A, "risk"),
    "emigration_risks": (_CELL_A, "risk"),
    "in_migration_shares": (_CELL_A, "share"),
    "in_migration": (_REGION, "count"),
    "in_migration_profile": (_CELL_A, "profile"),
    "immigration": (_REGION, "count"),
    "immigration_profile": (_CELL_A, "profile"),
    "fertility": (_FERT_A, "rate"),
    "boys_share": (_REGION, "risk"),
    "adjustment": (_CELL_A, "signed"),
}
_NYEAR = {
    "survival": (_CELL, "risk"),
    "fertility": (_FERT, "rate"),
    "net_migration": (_CELL, "signed"),
    "boys_share": (_REGION, "risk"),
}
_TOL = 1e-6


class AssumptionError(DemokitError, ValueError):
    """Projection assumptions that are incomplete, inconsistent or impossible."""


def _as_da(value, name):
    if value is None:
        return None
    if isinstance(value, xr.DataArray):
        return value.rename(name)
    if np.isscalar(value):
        return xr.DataArray(float(value), name=name)
    raise AssumptionError(f"{name}: expected an xarray.DataArray or a number, got {type(value).__name__}")


def _first_cell(name, da, mask):
    idx = first_cell(mask)
    from .cube import format_cell
    return format_cell(name, da, idx)


class Assumptions:
    """Return a container of projection assumptions (xarray objects, checked).

    Two kinds, chosen by the inputs given:

    **Annual** (single years of age, one-year steps; METHODS §6), all interval
    risks indexed by the age at the END of the year (age 0 = born in the year):

    Parameters
    ----------
    death_risks, out_migration_risks, emigration_risks : DataArray
        Dims ``sex, age`` and optionally ``region``, ``year`` and extra dims.
        ``out_migration_risks`` / ``emigration_risks`` default to 0.
    in_migration_shares : DataArray, optional
        Closed system: each region's share of the country's pool of internal
        out-movers by sex and age (dims ``region, sex, age``; sums to 1 over ``region``).
    in_migration, in_migration_profile : DataArray, optional
        Open system: in-movers per year per region (dims ``region``, optionally
        ``year``, ``scenario``...) spread by the region's in-mover profile
        (dims ``region, sex, age``; sums to 1 over ``sex, age``).  With
        ``balance_in_migration=True`` the totals (e.g. a housing plan) are
        balanced against the pool of out-movers (see Notes).
    immigration, immigration_profile : DataArray, optional
        Immigrants per year per region and their sex-age profile (default 0).
    fertility : DataArray
        Births per woman per year by the mother's age at the end of the year
        (dims ``age``, optionally ``region``, ``year``...; ages not given are 0).
    boys_share : float or DataArray, default 0.513
        Share of boys among births.
    adjustment : DataArray, optional
        Assumed adjustment term (persons), default 0.

    **n-year** (the textbook variant, ``project(..., step=n)``):

    survival : DataArray
        Survival ratios indexed by the age group reached at the end of the step
        (the first group takes the births; the open group applies to the last
        two groups together).
    net_migration : DataArray, optional
        Net migrants per step by age group (persons), default 0.
    migration_timing : {"even", "end"}
        ``"even"``: half at the start of the step (survived, and counted in
        the women exposed to fertility) and half at the end; ``"end"``: all at
        the end.
    balance_in_migration : bool, default False
        Closed system with in-mover totals: allocate the pool of out-movers to
        the regions so that each gets about its ``in_migration`` total (IPF).

    Raises
    ------
    AssumptionError
        Missing or mixed kinds, risks outside [0, 1], ``q + u + e > 1``, shares
        or profiles that do not sum to 1, naming the variable and cell.

    Notes
    -----
    Dask-backed assumptions are checked for dims only (their values are not
    scanned, so that they stay lazy).  ``.internal_migration`` is ``"closed"``
    (pool allocated by shares: ``I_r = Σ_r' O_r' · w_r``), ``"open"`` (assumed
    totals × profile), ``"balanced"`` or ``"none"``.

    ``balance_in_migration=True`` (a closed system with a housing plan): the
    in-mover totals ``T_r`` (``in_migration``) are spread by each region's
    profile ``π_r`` and balanced each year against the country's pool of
    out-movers by iterative proportional fitting: ``M_r(s, x)`` starts at
    ``T_r · π_r(s, x)``; columns are scaled to the pool ``Σ_r' O_r'(s, x)``, rows
    to ``T_r · Σ O / Σ T``, until the rows agree to 1e-10 (at most 1,000
    rounds), columns last, so ``Σ_r I_r(s, x) = Σ_r O_r(s, x)`` exactly.  The
    newborns' in-movers (age 0, whose pool exists only after the births) are
    allocated by ``T_r · π_r(s, 0)`` normalised over regions.
    """

    def __init__(self, *, death_risks=None, out_migration_risks=None, emigration_risks=None,
                 in_migration_shares=None, in_migration=None, in_migration_profile=None,
                 immigration=None, immigration_profile=None, fertility=None,
                 boys_share=BOYS_SHARE, adjustment=None, survival=None, net_migration=None,
                 migration_timing="even", balance_in_migration=False, attrs=None):
        given = {"death_risks": death_risks, "out_migration_risks": out_migration_risks,
                 "emigration_risks": emigration_risks, "in_migration_shares": in_migration_shares,
                 "in_migration": in_migration, "in_migration_profile": in_migration_profile,
                 "immigration": immigration, "immigration_profile": immigration_profile,
                 "fertility": fertility, "boys_share": boys_share, "adjustment": adjustment,
                 "survival": survival, "net_migration": net_migration}
        self.data = {k: _as_da(v, k) for k, v in given.items() if v is not None}
        self.attrs = dict(attrs or {})
        if migration_timing not in ("even", "end"):
            raise AssumptionError(f"migration_timing={migration_timing!r}; expected 'even' or 'end'")
        self.migration_timing = migration_timing
        annual = death_risks is not None
        nyear = survival is not None
        if annual and nyear:
            raise AssumptionError("give either death_risks (annual engine) or survival (n-year variant), not both")
        if not (annual or nyear):
            raise AssumptionError("missing death_risks (annual engine) or survival (n-year variant)")
        if fertility is None:
            raise AssumptionError("missing fertility (births per woman per year by mother's age)")
        self.kind = "annual" if annual else "nyear"
        spec = _ANNUAL if annual else _NYEAR
        extra = sorted(k for k in self.data if k not in spec)
        if extra:
            raise AssumptionError(f"{', '.join(extra)} not used by the {self.kind} engine "
                                  f"(it takes {', '.join(spec)})")
        if annual:
            if in_migration_shares is not None and in_migration is not None:
                raise AssumptionError("give in_migration_shares (closed system) or in_migration "
                                      "(open system: totals spread by in_migration_profile), not both")
            if balance_in_migration and (in_migration is None or in_migration_profile is None):
                raise AssumptionError("balance_in_migration=True needs in_migration totals (e.g. a housing "
                                      "plan) and in_migration_profile, in place of in_migration_shares")
            if in_migration_shares is not None:
                self.internal_migration = "closed"
            elif in_migration is not None:
                if in_migration_profile is None:
                    raise AssumptionError("in_migration (open system) needs in_migration_profile")
                self.internal_migration = "balanced" if balance_in_migration else "open"
                if balance_in_migration and out_migration_risks is None:
                    raise AssumptionError("balance_in_migration=True balances the in-mover totals against "
                                          "the pool of out-movers: give out_migration_risks")
            else:
                if out_migration_risks is not None:
                    raise AssumptionError(
                        "out_migration_risks given without in-movers: give in_migration_shares "
                        "(closed system) or in_migration with in_migration_profile (open system)")
                self.internal_migration = "none"
            if (immigration is None) != (immigration_profile is None):
                raise AssumptionError("immigration and immigration_profile go together")
        else:
            self.internal_migration = "net"
        self._check()

    # ------------------------------------------------------------------ checks
    def _check(self):
        spec = _ANNUAL if self.kind == "annual" else _NYEAR
        for name, da in self.data.items():
            core, kind = spec[name]
            need = {"risk": ("age",), "share": ("region",), "profile": ("region", "sex", "age"),
                    "count": ("region",), "rate": ("age",), "signed": ("age",)}[kind]
            if name == "boys_share":
                need = ()
            if name == "in_migration_shares":
                need = ("region", "sex", "age")
            missing = [d for d in need if d not in da.dims]
            if missing:
                raise AssumptionError(f"{name} lacks dim(s) {', '.join(map(repr, missing))}; it has {da.dims}")
            forbid = [d for d in ("region", "sex", "age", "year") if d in da.dims and d not in core]
            if forbid:
                raise AssumptionError(f"{name} must not have dim(s) {', '.join(map(repr, forbid))} "
                                      f"(its dims are among {core} plus extra dims)")
            if "sex" in da.dims:
                bad = [s for s in da["sex"].values.tolist() if s not in SEXES]
                if bad:
                    raise AssumptionError(f"{name}: unknown sex {bad[0]!r}; expected 'female' and 'male'")
            if is_dask(da):
                continue
            v = np.asarray(da.values, dtype=float)
            if not np.isfinite(v).all():
                raise AssumptionError(f"{_first_cell(name, da, ~np.isfinite(v))}: must be a finite number")
            if kind in ("risk", "share", "profile"):
                bad = (v < 0) | (v > 1)
                if bad.any():
                    raise AssumptionError(f"{_first_cell(name, da, bad)}: must lie in [0, 1]")
            elif kind in ("count", "rate") and (v < 0).any():
                raise AssumptionError(f"{_first_cell(name, da, v < 0)}: must be >= 0")
        d = self.data
        if self.kind == "annual":
            tot = d["death_risks"]
            for k in ("out_migration_risks", "emigration_risks"):
                if k in d:
                    tot = tot + d[k]
            if not is_dask(tot):
                bad = tot.values > 1 + 1e-12
                if bad.any():
                    raise AssumptionError(
                        f"{_first_cell('death_risks + out_migration_risks + emigration_risks', tot, bad)}"
                        ": the risks of leaving a cohort must sum to at most 1")
            if self.internal_migration == "balanced" and not is_dask(d["in_migration"]):
                s = d["in_migration"].sum("region") if "region" in d["in_migration"].dims else d["in_migration"]
                bad = s.values <= 0
                if np.any(bad):
                    raise AssumptionError(f"{_first_cell('in_migration summed over region', s, bad)}: the "
                                          "in-mover totals to balance against the pool must not all be 0")
            if "in_migration_shares" in d and not is_dask(d["in_migration_shares"]):
                s = d["in_migration_shares"].sum("region")
                bad = np.abs(s.values - 1) > _TOL
                if bad.any():
                    raise AssumptionError(f"{_first_cell('in_migration_shares summed over region', s, bad)}"
                                          ": shares must sum to 1 over 'region'")
            for k in ("in_migration_profile", "immigration_profile"):
                if k in d and not is_dask(d[k]):
                    s = d[k].sum(("sex", "age"))
                    bad = np.abs(s.values - 1) > _TOL
                    if bad.any():
                        raise AssumptionError(f"{_first_cell(k + ' summed over sex and age', s, bad)}"
                                              ": a profile must sum to 1 over 'sex' and 'age'")

    # ------------------------------------------------------------------ views
    def __getitem__(self, name):
        return self.data[name]

    def __contains__(self, name):
        return name in self.data

    def __getattr__(self, name):
        data = self.__dict__.get("data", {})
        if name in data:
            return data[name]
        raise AttributeError(name)

    def replace(self, **changes) -> Assumptions:
        """Return a copy with some assumptions replaced (``None`` removes one)."""
        changes = dict(changes)
        timing = changes.pop("migration_timing", self.migration_timing)
        balance = changes.pop("balance_in_migration", None)
        kw = dict(self.data)
        kw.update(changes)
        kw = {k: v for k, v in kw.items() if v is not None}
        if balance is None:
            # keep the housing-plan mode while its totals stay (dropping them drops the mode)
            balance = (self.internal_migration == "balanced" and "in_migration" in kw
                       and "in_migration_shares" not in kw)
        return Assumptions(**kw, migration_timing=timing, balance_in_migration=balance, attrs=self.attrs)

    def to_dataset(self) -> xr.Dataset:
        """Return the assumptions as one Dataset (for inspection or NetCDF)."""
        ds = xr.Dataset({k: v for k, v in self.data.items()})
        ds.attrs.update(self.attrs, kind=self.kind, internal_migration=self.internal_migration)
        if self.kind == "nyear":
            ds.attrs["migration_timing"] = self.migration_timing
        return ds

    def __repr__(self):
        lines = [f"<demokit.Assumptions kind={self.kind!r} internal_migration={self.internal_migration!r}>"]
        for k, v in self.data.items():
            lines.append(f"  {k}: dims {v.dims} shape {v.shape}")
        return "\n".join(lines)

    @classmethod
    def from_history(cls, ds, *, years, **options):
        """Return :class:`Assumptions` estimated from a cube's history (see :func:`demokit.scenarios.from_history`)."""
        from .scenarios import from_history
        return from_history(ds, years=years, **options)


# ---------------------------------------------------------------------- engine
def _base(base_population):
    P0 = base_population
    if isinstance(P0, xr.Dataset):
        if "population" not in P0:
            raise CubeError("base_population: the Dataset has no 'population' variable")
        attrs = P0.attrs
        P0 = P0["population"]
        P0.attrs = {**attrs, **P0.attrs}
    if not isinstance(P0, xr.DataArray):
        raise CubeError(f"base_population: expected a DataArray, got {type(P0).__name__}")
    base_year = None
    if "year" in P0.dims:
        if P0.sizes["year"] != 1:
            raise CubeError(f"base_population has {P0.sizes['year']} years; select the base year, "
                            "e.g. ds.population.sel(year=2019)")
        P0 = P0.isel(year=0)
    if "year" in P0.coords:
        base_year = int(P0["year"].values)
        P0 = P0.drop_vars("year")
    for d in ("sex", "age"):
        if d not in P0.dims:
            raise CubeError(f"base_population lacks the dim {d!r}; it has {P0.dims}")
    sexes = P0["sex"].values.tolist()
    if sorted(sexes) != sorted(SEXES):
        raise CubeError(f"base_population: sex must be 'female' and 'male', got {sexes}")
    if sexes != list(SEXES):
        P0 = P0.sel(sex=list(SEXES))
    return P0.rename("population"), base_year


def _check_coords(name, da, ref, dim):
    if dim not in da.dims:
        return da
    ia, ir = da.indexes.get(dim), ref.indexes.get(dim)
    if ia is not None and ir is not None and ia.equals(ir):
        return da
    a, r = da[dim].values, ref[dim].values
    if len(a) == len(r) and (a == r).all():
        return da
    missing = [v for v in r.tolist() if v not in set(a.tolist())]
    if missing and not (name == "fertility" and dim == "age"):
        raise AssumptionError(f"{name} lacks {dim}={missing[0]!r} (of the base population's {dim}s)")
    extra = [v for v in a.tolist() if v not in set(r.tolist())]
    if extra and dim != "age":
        raise AssumptionError(f"{name} has {dim}={extra[0]!r}, which the base population lacks")
    if name == "fertility" and dim == "age":
        if extra:
            raise AssumptionError(f"fertility has age={extra[0]!r}, beyond the base population's ages")
        return da.reindex(age=r, fill_value=0.0)
    return da.sel({dim: r})


def _select(name, da, core, P0, years):
    """Check and select ``da``'s core coords against the base population and the projected years."""
    check_core_chunks(da, [d for d in core if d in da.dims], name=name)
    for dim in ("region", "sex", "age"):
        if dim in core:
            da = _check_coords(name, da, P0, dim)
    if "year" in da.dims:
        have = set(da["year"].values.tolist())
        miss = [y for y in years if y not in have]
        if miss:
            raise AssumptionError(f"{name} lacks year={miss[0]} of the projection")
        if list(da["year"].values) != list(years):
            da = da.sel(year=list(years))
    return da


def _core(da, core, P0, tag):
    """Rename/expand ``da``'s core dims for the dask path (``year`` may have length 1)."""
    if "year" in da.dims:
        da = da.drop_vars("year").rename(year=f"_year_{tag}")
    else:
        da = da.expand_dims({f"_year_{tag}": 1})
    for dim in ("region", "sex", "age"):
        if dim in core and dim not in da.dims:
            da = da.expand_dims({dim: P0[dim].values})
    names = [f"_year_{tag}" if d == "year" else d for d in core]
    return da.transpose(..., *names).astype(np.float64, copy=False), names


def _flat(a, k, bshape, B, writeable=True):
    """``a`` as a C-contiguous float64 array ``(B,) + core`` (batch flattened; copied only if needed).

    ``writeable=False`` marks the result read-only instead of copying a
    read-only input (dask blocks and broadcast views often are), so that the
    kernel sees one array type either way.
    """
    bs = a.shape[:a.ndim - k]
    core = a.shape[a.ndim - k:]
    bs = (1,) * (len(bshape) - len(bs)) + tuple(bs)
    if math.prod(bs) == 1:
        out = a.reshape((1,) + core)
    elif bs == tuple(bshape):
        out = a.reshape((B,) + core)
    else:
        out = np.broadcast_to(a.reshape(bs + core), tuple(bshape) + core).reshape((B,) + core)
    if writeable:
        return np.require(out, np.float64, ["C", "W"])
    out = np.require(out, np.float64, ["C"])
    if out.flags.writeable:
        out = out.view()
        out.flags.writeable = False
    return out


def _run(kind, arrays, core_nd, ny, store, flags):
    """Numpy side: flatten the batch dims, call the kernel; return all outputs as one array.

    The result has shape ``(n_outputs,) + batch shape + (ny,) + core`` (one
    allocation; ``n_outputs`` is 1 with ``store=False``).
    """
    bshape = np.broadcast_shapes(*[a.shape[:a.ndim - k] for a, k in zip(arrays, core_nd)])
    B = math.prod(bshape)
    # annual kernel: read-only inputs except the base population and the in-mover shares/profile
    # (the kernel unifies those with arrays it writes); the n-year kernel takes writeable arrays
    flat = [_flat(a, k, bshape, B, writeable=kind != "annual" or i in (0, 4))
            for i, (a, k) in enumerate(zip(arrays, core_nd))]
    shape = (B, ny) + flat[0].shape[1:]   # the base population's core layout (_POP_CORE[kind])
    nout = 7 if kind == "annual" else 4
    out_all = np.empty(((nout if store else 1),) + shape)
    out_pop = out_all[0]
    if store:
        outs = list(out_all[1:])
    else:
        outs = [np.empty((1, 1, 1, 1, 1)) for _ in range(nout - 1)]
    if kind == "annual":
        mode, has_adj = flags
        if not has_adj:   # a length-0 adjustment means "none"
            flat.insert(8, _flat(np.empty((0, 1, 1, 1, 1)), 4, (0,), 0, writeable=False))
        # the population: a serial recursion over years, parallel over the batch (scenarios,
        # draws); then the components, parallel over the batch and the years
        _k.project_annual(*flat, mode, out_pop)
        if store:
            _k.annual_components(*flat[:8], *flat[9:], mode, out_pop, *outs)
    else:
        half, n = flags
        _k.project_nyear(*flat, half, float(n), store, out_pop, *outs)
    return out_all.reshape(out_all.shape[:1] + tuple(bshape) + shape[1:])


def _extra_dims(arrays, core_names):
    """Return the extra (batch) dims of ``arrays`` in order of appearance and their coords.

    Raises :class:`AssumptionError` if the inputs' labels along those dims disagree.
    """
    bdims = []
    for x in arrays:
        for d in x.dims:
            if d not in core_names and d not in bdims:
                bdims.append(d)
    with_b = [x for x in arrays if any(d in x.dims for d in bdims)]
    if len(with_b) > 1:
        try:
            xr.align(*with_b, join="exact", exclude=core_names)
        except ValueError as err:
            raise AssumptionError(f"the extra dims {bdims} disagree between the inputs: {err}") from None
    bcoords = {}
    for d in bdims:
        for x in with_b:
            if d in x.dims and d in x.coords:
                bcoords[d] = x[d].values
                break
    return bdims, bcoords


def _block(*blocks, kind, arg_dims, bdims, core_nd, ny, store, flags):
    """One dask block: unwrap the (single-chunk) core blocks, add length-1 batch axes, run."""
    arrays = []
    for blk, dims, k in zip(blocks, arg_dims, core_nd):
        while isinstance(blk, list):   # a list over the chunks of a contracted core dim: one chunk
            blk = blk[0]
        shape = [blk.shape[dims.index(d)] if d in dims else 1 for d in bdims] + list(blk.shape[blk.ndim - k:])
        arrays.append(blk.reshape(shape))
    return _run(kind, arrays, core_nd, ny, store, flags)


def _lazy(kind, args, core_dims, ny, store, flags, nkept):
    """Dask path: one ``blockwise`` task per block of the extra dims (no copies of the inputs)."""
    import dask.array as dsa

    # blockwise pairs the extra dims by position: _extra_dims checks that their labels agree
    bdims, bcoords = _extra_dims(args, {c for cd in core_dims for c in cd})
    args = [x.transpose(*[d for d in bdims if d in x.dims], *cd) for x, cd in zip(args, core_dims)]
    out_core = ["year", *_POP_CORE[kind]]
    pairs = []
    for x in args:
        data = x.data if is_dask(x) else dsa.from_array(x.values, chunks=-1)
        pairs += [data, tuple(x.dims)]
    out = dsa.blockwise(
        _block, ("_out", *bdims, *out_core), *pairs,
        new_axes={"_out": nkept, "year": ny}, concatenate=False, align_arrays=True,
        dtype=np.float64, meta=np.empty((0,) * (2 + len(bdims) + len(out_core[1:]))),
        kind=kind, arg_dims=[tuple(x.dims) for x in args], bdims=bdims,
        core_nd=[len(cd) for cd in core_dims], ny=ny, store=store, flags=flags)
    return out, bdims + out_core, bcoords


_CORE_ALL = ("year", "region", "sex", "age")


def _eager(kind, P0, inputs, ny, store, flags):
    """In-memory path: plain numpy views, no dask graph (keeps small projections fast)."""
    arrays_da = [P0] + [da for da, _ in inputs]
    pop_core = _POP_CORE[kind]
    cores = [pop_core] + [core for _, core in inputs]
    bdims, bcoords = _extra_dims(arrays_da, set(_CORE_ALL))
    full = {"region": P0.sizes["region"], "sex": P0.sizes["sex"], "age": P0.sizes["age"]}
    arrays = []
    for da, core in zip(arrays_da, cores):
        order = [d for d in bdims if d in da.dims] + [d for d in core if d in da.dims]
        x = np.asarray(da.data, dtype=np.float64)
        if list(da.dims) != order:
            x = np.transpose(x, [da.dims.index(d) for d in order])
        shape = [da.sizes[d] if d in da.dims else 1 for d in bdims] + \
                [da.sizes[d] if d in da.dims else 1 for d in core]
        x = x.reshape(shape)
        target = tuple(shape[:len(bdims)]) + tuple(
            (shape[len(bdims) + i] if d == "year" else full[d]) for i, d in enumerate(core))
        arrays.append(np.broadcast_to(x, target))
    core_nd = [len(c) for c in cores]
    res = _run(kind, arrays, core_nd, ny, store, flags)
    dims = bdims + ["year", *pop_core]
    return list(res), dims, bcoords


def project(base_population, assumptions, *, years, step=1, components=True):
    """Return the projected population and its components of change for each year.

    Parameters
    ----------
    base_population : DataArray or Dataset
        Population at the end of the base year (dims ``region, sex, age`` plus
        any extra dims such as ``scenario``; a length-1 ``year`` dim or a scalar
        ``year`` coordinate gives the base year).  A Dataset's ``population`` is used.
    assumptions : Assumptions
        Annual inputs (``step=1``) or ``n``-year inputs (``survival=``...).
    years : iterable of int
        The projected years, consecutive by ``step`` (``range(2020, 2045)``;
        ``[1998]`` for one five-year step from 1993).
    step : int, default 1
        Projection step and age-group width (ages must be ``0, step, 2·step, ...``).
    components : bool, default True
        Keep every component of change; ``False`` keeps only ``population``.

    Returns
    -------
    xarray.Dataset
        Dims ``(..., region, sex, age, year)``: ``population`` (end of each
        year) and, for the annual engine, ``births`` (by the mother's age at
        the end of the year, ``sex`` = the child's sex), ``deaths``,
        ``in_migration``, ``out_migration``, ``immigration``, ``emigration``;
        for the ``n``-year variant ``births``, ``deaths`` (cohort deaths in the
        step) and ``net_migration``.  Every event variable is by the age at the
        end of the year (``attrs["age_convention"] = "year_end"``).
        ``attrs["internal_migration"]`` records the mode.  Dask in → dask out.

    Raises
    ------
    CubeError, AssumptionError
        Bad base population, assumptions lacking a region, age or year of the
        projection, a core dim (``region``, ``sex``, ``age``, ``year``) split
        into several dask chunks (the message names the dims to rechunk).

    Notes
    -----
    Annual engine (METHODS §6), for year ``t``, region ``r``, sex ``s``, age
    ``x ≥ 1`` at the end of the year: ``N = P(x−1, t−1)`` (``+ P(ω, t−1)`` at the
    open age), ``D = N·q``, ``O = N·u``, ``EM = N·e``, ``IM = IM_tot,r · π_r(s, x)``,
    ``I = (Σ_r' O_r'(s, x)) · w_r(s, x)`` (closed; ``balanced``: ``w`` from the
    year's IPF of the in-mover totals against the pool, see :class:`Assumptions`)
    or ``I = I_tot,r · π^I_r(s, x)`` (open), ``P(x, t) = N − D − O − EM + I + IM + A``.  Births
    ``B_r = Σ_x f_r(x) · (W_r(x−1, t−1) + W_r(x, t)) / 2`` after the women at the
    end of the year, split by ``boys_share``; at age 0, ``N = B_s`` and the
    age-0 risks, moves and immigrants apply.

    ``n``-year variant (Preston, Heuveline & Guillot 2001, Box 6.2):
    ``P(x, t+n) = S(x) · (P(x−n, t) + h·NM(x−n)) + h·NM(x)`` with ``h = 1/2``
    (``"even"``; ``"end"``: all net migrants added at the end), the open group
    ``S(ω) · (P(ω−n) + P(ω) + h·NM(ω−n) + h·NM(ω))``, births
    ``n · Σ_x f(x) · (W(x, t) + h·NM_W(x) + W(x, t+n)) / 2``, ``P(0, t+n) = S(0)·B_s + h·NM(0)``.
    """
    if not isinstance(assumptions, Assumptions):
        raise AssumptionError(f"assumptions: expected demokit.Assumptions, got {type(assumptions).__name__}")
    a = assumptions
    if a.kind == "annual" and int(step) != 1:
        raise AssumptionError(f"step={step} needs the n-year inputs (survival=, net_migration=); "
                              "these assumptions are for the annual engine")
    P0, base_year = _base(base_population)
    w = a.attrs.get("open_age") if isinstance(a.attrs, dict) else None
    if isinstance(w, (int, np.integer)) and w < int(P0["age"].values.max()):
        from .small_area import with_open_age
        P0 = with_open_age(P0, int(w))   # from_history(open_age=...) estimated on folded ages
    no_region = "region" not in P0.dims
    if no_region:
        P0 = P0.expand_dims(region=["_all"])
    check_counts(P0, "base_population")
    years = [int(y) for y in years]
    if not years:
        raise CubeError("years: no year to project")
    step = int(step)
    if step < 1:
        raise CubeError(f"step={step}: must be a positive number of years")
    d = np.diff(years)
    if (d != step).any():
        i = int(np.argmax(d != step))
        raise CubeError(f"years must be consecutive by step={step}; year={years[i + 1]} follows year={years[i]}")
    if base_year is not None and years[0] != base_year + step:
        raise CubeError(f"the base population is for year={base_year}; the first projected year must be "
                        f"{base_year + step}, got {years[0]}")
    ages = P0["age"].values
    if ages[0] != 0 or (np.diff(ages) != step).any():
        raise CubeError(f"base_population: ages must be 0, {step}, {2 * step}, ... (step={step}); "
                        f"got {ages[:4].tolist()}...")
    if len(ages) < 2:
        raise CubeError(f"base_population: a projection needs at least two ages (0 and an open age); "
                        f"got age={ages.tolist()}")
    open_age = int(ages[-1])
    check_core_chunks(P0, ["region", "sex", "age"], name="base_population")
    pop0 = P0.transpose(..., *_POP_CORE[a.kind]).astype(np.float64, copy=False)
    ny = len(years)
    zero_cell = xr.DataArray(0.0)
    if a.kind == "annual":
        closed = a.internal_migration == "closed"
        items = [
            ("death_risks", a.data["death_risks"], _CELL_A),
            ("out_migration_risks", a.data.get("out_migration_risks", zero_cell), _CELL_A),
            ("emigration_risks", a.data.get("emigration_risks", zero_cell), _CELL_A),
            ("in_migration_shares" if closed else "in_migration_profile",
             a.data.get("in_migration_shares" if closed else "in_migration_profile", zero_cell), _CELL_A),
            ("in_migration", a.data.get("in_migration", zero_cell), _REGION),
            ("immigration", a.data.get("immigration", zero_cell), _REGION),
            ("immigration_profile", a.data.get("immigration_profile", zero_cell), _CELL_A),
            ("adjustment", a.data.get("adjustment"), _CELL_A),
            ("fertility", a.data["fertility"], _FERT_A),
            ("boys_share", a.data.get("boys_share", xr.DataArray(BOYS_SHARE)), _REGION),
        ]
        mode = {"open": 0, "none": 0, "closed": 1, "balanced": 2}[a.internal_migration]
        flags = (mode, "adjustment" in a.data)
        names = ["population", "births", "deaths", "in_migration", "out_migration", "immigration", "emigration"]
    else:
        items = [
            ("survival", a.data["survival"], _CELL),
            ("fertility", a.data["fertility"], _FERT),
            ("net_migration", a.data.get("net_migration", zero_cell), _CELL),
            ("boys_share", a.data.get("boys_share", xr.DataArray(BOYS_SHARE)), _REGION),
        ]
        half = 0.5 if a.migration_timing == "even" else 0.0
        flags = (half, step)
        names = ["population", "births", "deaths", "net_migration"]
    inputs = []
    for name, da, core in items:
        if da is None:
            continue
        if no_region and "region" in da.dims:
            raise AssumptionError(f"{name} has a region dim but the base population has none")
        inputs.append((_select(name, da, core, P0, years), core))
    store = bool(components)
    if not components:
        names = names[:1]
    if any(is_dask(x) for x in [pop0] + [da for da, _ in inputs]):
        args, core_dims = [pop0], [list(_POP_CORE[a.kind])]
        for i, (da, core) in enumerate(inputs):
            arr, cd = _core(da, core, P0, i)
            args.append(arr)
            core_dims.append(cd)
        out, dims, bcoords = _lazy(a.kind, args, core_dims, ny, store, flags, len(names))
        coords = {"year": years, **bcoords}
        for c, v in P0.coords.items():
            if set(v.dims) <= {"region", "sex", "age"}:
                coords[c] = v.variable
        res = [xr.DataArray(out[i], dims=dims, coords=coords) for i in range(len(names))]
    else:
        arrs, dims, bcoords = _eager(a.kind, pop0, inputs, ny, store, flags)
        coords = {"year": years, **bcoords}
        for c, v in P0.coords.items():
            if set(v.dims) <= {"region", "sex", "age"}:
                coords[c] = v.variable
        order = [d for d in dims if d not in _CORE_ALL] + ["region", "sex", "age", "year"]
        axes = [dims.index(d) for d in order]
        res = [(order, np.transpose(x, axes)) for x in arrs]
    variables = {}
    for n_, r in zip(names, res):
        attrs = {"units": "persons"}
        if n_ == "population":
            attrs["long_name"] = "population at the end of the year (31 December)"
        else:
            attrs["age_convention"] = "year_end"
        if n_ == "births":
            attrs["long_name"] = "live births by the mother's age at the end of the year; sex of the child"
        if isinstance(r, tuple):
            variables[n_] = (r[0], r[1], attrs)
        else:
            r = r.transpose(..., "region", "sex", "age", "year")
            r.attrs = attrs
            variables[n_] = r
    if isinstance(res[0], tuple):
        out = xr.Dataset(variables, coords=coords)
    else:
        out = xr.Dataset(variables)
    if no_region:
        out = out.isel(region=0, drop=True)
    method = ("annual multiregional cohort-component projection (METHODS §6)" if a.kind == "annual"
              else f"{step}-year cohort-component projection with survival ratios and net migrants "
                   f"(migration_timing={a.migration_timing!r}; Preston et al. 2001, Box 6.2)")
    out.attrs = {"open_age": open_age, "method": method, "step": step,
                 "internal_migration": a.internal_migration}
    if base_year is not None:
        out.attrs["base_year"] = base_year
    for k, v in a.attrs.items():
        if isinstance(v, (str, int, float)):
            out.attrs[f"assumptions_{k}"] = v
    return out


# ---------------------------------------------------------------------- constrain
def constrain(sub_areas, *, to, dim="region"):
    """Return sub-area projections scaled to sum to a parent projection, and the factors.

    Parameters
    ----------
    sub_areas : DataArray or Dataset
        Sub-area populations (e.g. DeSO, RegSO, planning areas) along ``dim``.
        A Dataset's ``population`` is used.
    to : DataArray or Dataset
        The parent projection without ``dim`` (e.g. the municipality), same
        ``sex``, ``age``, ``year`` (and any extra dims) as ``sub_areas``.
    dim : str, default "region"
        The dim that lists the sub-areas.

    Returns
    -------
    xarray.Dataset
        ``population`` (constrained sub-areas) and ``factor`` (the scaling
        factor for each sex, age, year, ...: parent / Σ sub-areas).

    Raises
    ------
    CubeError
        If a parent cell is positive while the sub-areas sum to 0 there (the
        parent's persons cannot be placed), naming the cell.

    Notes
    -----
    ``P*_a(s, x, t) = P_a(s, x, t) · P_parent(s, x, t) / Σ_a P_a(s, x, t)``
    (pro-rata within each sex and age).  Cells where both are 0 get factor 1.
    """
    sub = sub_areas["population"] if isinstance(sub_areas, xr.Dataset) else sub_areas
    par = to["population"] if isinstance(to, xr.Dataset) else to
    if dim not in sub.dims:
        raise CubeError(f"sub_areas lacks the dim {dim!r}; it has {sub.dims}")
    if dim in par.dims:
        raise CubeError(f"the parent projection must not have the dim {dim!r} (sum it first)")
    check_counts(sub, "sub_areas")
    check_counts(par, "parent")
    total = sub.sum(dim)
    if not is_dask(total) and not is_dask(par):
        bad = (total.values == 0) & (par.broadcast_like(total).values > 0)
        if bad.any():
            raise CubeError(f"{_first_cell('parent', total, bad)} has no sub-area population at that cell: "
                            f"the parent's persons (>0) cannot be placed; give a sub-area distribution")
    factor = xr.where(total > 0, par / total.where(total > 0), 1.0)
    factor.attrs = {"units": "1", "long_name": "scaling factor parent / sum of sub-areas"}
    pop = sub * factor
    pop.attrs = {**sub.attrs, "constrained": "scaled within each sex and age to the parent projection"}
    return xr.Dataset({"population": pop, "factor": factor})
