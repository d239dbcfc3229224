"""Population projection: the cohort-component engine (METHODS §6).

:class:`~demokit.assumptions.Assumptions` (in :mod:`demokit.assumptions`)
holds the inputs of a projection as xarray objects; each may carry ``year``,
``scenario``, ``draw`` or any other extra dim, which broadcast (they are never
looped over in Python).  The components of change follow the table
:data:`demokit.components.COMPONENTS`.  :func:`project` runs the
annual multiregional engine (single years of age, one-year steps) or the
textbook ``n``-year variant (survival ratios and net migrants) in one Numba
kernel; :func:`constrain` scales sub-area projections to a parent projection.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

from ._apply import check_core_chunks, is_dask
from ._kernels import projection as _k
from .assumptions import (_CELL, _CELL_A, _FERT, _FERT_A, _REGION, BOYS_SHARE, AssumptionError, Assumptions,
                          _first_cell)
from .components import COMPONENTS, by_kind
from .cube import CubeError, SEXES, check_counts

__all__ = ["AssumptionError", "Assumptions", "constrain", "project"]

_POP_CORE = {"annual": ("sex", "age", "region"), "nyear": ("region", "sex", "age")}
# with origin groups (born in the country / born abroad): an origin core dim before sex
_CELL_O = ("year", "origin", "sex", "age", "region")
_FERT_O = ("year", "origin", "age", "region")
_POP_O = ("origin", "sex", "age", "region")
#: the kernel inputs that are cells (their origin and sex become one axis)
_ORIGIN_CELL = ("exit", "entry_prof", "wp", "adj")


# ---------------------------------------------------------------------- engine
def _labels(da, dim):
    """``da[dim].values`` without building a coordinate DataArray (``0, 1, …`` for a dim without coords)."""
    if dim in da.coords:
        return da.coords.variables[dim].values
    return np.arange(da.sizes[dim])


def _base(base_population):
    P0 = base_population
    if isinstance(P0, xr.Dataset):
        if "population" not in P0:
            raise CubeError("base_population: the Dataset has no 'population' variable")
        attrs = P0.attrs
        P0 = P0["population"]
        P0 = P0.assign_attrs({**attrs, **P0.attrs})   # (a new object: ds["population"] shares ds's variable)
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
    sexes = P0.get_index("sex").tolist()   # (a dim without coords: 0, 1)
    if sorted(sexes) != sorted(SEXES):
        raise CubeError(f"base_population: sex must be 'female' and 'male', got {sexes}")
    if sexes != list(SEXES):
        P0 = P0.sel(sex=list(SEXES))
    return (P0 if P0.name == "population" else P0.rename("population")), base_year


def _check_coords(name, da, ref, dim):
    """``da`` with the base population's ``dim`` labels (whose index differs from ``da``'s), or a named error."""
    a, r = _labels(da, dim), _labels(ref, dim)
    if len(a) == len(r) and (a == r).all():
        return da
    al, rl = a.tolist(), r.tolist()
    sa, sr = set(al), set(rl)
    missing = [v for v in rl if v not in sa]
    if missing and not (name == "fertility" and dim == "age"):
        raise AssumptionError(f"{name} lacks {dim}={missing[0]!r} (of the base population's {dim}s)")
    if missing and name == "fertility":   # ages outside the fertile range count 0, a gap inside it is an error
        inside = [v for v in missing if min(al) < v < max(al)]
        if inside:
            raise AssumptionError(f"fertility lacks age={inside[0]!r} inside its ages {min(al)!r}-"
                                  f"{max(al)!r} (only ages outside them count as 0)")
    extra = [v for v in al if v not in sr]
    if extra and dim != "age":
        raise AssumptionError(f"{name} has {dim}={extra[0]!r}, which the base population lacks")
    if name == "fertility" and dim == "age":
        if extra:
            raise AssumptionError(f"fertility has age={extra[0]!r}, beyond the base population's ages")
        return da.reindex(age=r, fill_value=0.0)
    return da.sel({dim: r})


def _select(name, da, core, P0, years):
    """Check and select ``da``'s core coords against the base population and the projected years."""
    dims = da.dims
    check_core_chunks(da, [d for d in core if d in dims], name=name)
    for dim in ("region", "origin", "sex", "age"):
        # the same labels (the same index object, or equal indexes; a dim without coords: a range index)
        if dim in core and dim in dims and not da.get_index(dim).equals(P0.get_index(dim)):
            da = _check_coords(name, da, P0, dim)
    if "year" in dims:
        have = da.get_index("year").tolist()
        if have != list(years):
            have = set(have)
            miss = [y for y in years if y not in have]
            if miss:
                raise AssumptionError(f"{name} lacks year={miss[0]} of the projection")
            da = da.sel(year=list(years))
    return da


def _core(da, core, P0, tag):
    """Rename/expand ``da``'s core dims for the dask path (``year`` may have length 1)."""
    if "year" in da.dims:
        da = da.drop_vars("year").rename(year=f"_year_{tag}")
    else:
        da = da.expand_dims({f"_year_{tag}": 1})
    for dim in ("region", "origin", "sex", "age"):
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


def _run(kind, arrays, core_nd, ny, store, flags, then=None):
    """Numpy side: flatten the batch dims, call the kernel; return all outputs as one array.

    The result has shape ``(n_outputs,) + batch shape + (ny,) + core`` (one
    allocation; ``n_outputs`` is 1 with ``store=False``).  With ``then``,
    return ``then(result)`` instead, called on the allocated result before the
    inputs are copied into the kernel's layout and the kernel fills it: the
    Python that wraps the outputs (xarray) runs while its objects are still in
    the CPU caches, which the copies and the kernel's passes over the outputs
    evict.  Annual: ``flags`` is
    ``(mode, roles, pool_k)``, ``roles`` naming each input after the base
    population (``"exit"``, ``"entry_tot"``, ``"entry_prof"``, ``"wp"``,
    ``"in_tot"``, ``"adj"``, ``"f"``, ``"boys"``); the outputs are the
    population, the exits (table order), the in-movers, the entries, the births.
    """
    bshape = np.broadcast_shapes(*[a.shape[:a.ndim - k] for a, k in zip(arrays, core_nd)])
    B = math.prod(bshape)
    core_out = arrays[0].shape[arrays[0].ndim - core_nd[0]:]   # the base population's core layout
    if kind == "annual":
        mode, roles, pool_k, G = flags
        K, J = roles.count("exit"), roles.count("entry_tot")
        nout = 3 + K + J
        shape = (B, ny) + (((core_out[0] * core_out[1],) + core_out[2:]) if G else core_out)
        out_all = np.empty(((nout if store else 1),) + shape)
        res = out_all.reshape(out_all.shape[:1] + tuple(bshape) + (ny,) + core_out)
        ret = res if then is None else then(res)
        # read-only inputs except the base population and the in-mover shares/profile (the kernel
        # unifies those with arrays it writes)
        flat = [_flat(a, k, bshape, B, writeable=i == 0 or roles[i - 1] == "wp")
                for i, (a, k) in enumerate(zip(arrays, core_nd))]
        if G:   # origin groups: (origin, sex) as one axis of rows 2·g + s (see demokit._kernels.projection)
            flat = [flat[0].reshape(flat[0].shape[:1] + (-1,) + flat[0].shape[3:])] + [
                x.reshape(x.shape[:2] + (-1,) + x.shape[4:]) if role in _ORIGIN_CELL else x
                for role, x in zip(roles, flat[1:])]
        by = {}
        for role, x in zip(roles, flat[1:]):
            if role == "f" and not G:   # fertility (batch, year, origin, age, region), one group
                x = x.reshape(x.shape[:2] + (1,) + x.shape[2:])
            by.setdefault(role, []).append(x)
        exits, ent_tot, ent_prof = tuple(by["exit"]), tuple(by["entry_tot"]), tuple(by["entry_prof"])
        adj = by["adj"][0] if "adj" in by else _flat(np.empty((0, 1, 1, 1, 1)), 4, (0,), 0, writeable=False)
        args = (flat[0], exits, np.int64(pool_k), ent_tot, ent_prof, by["wp"][0], by["in_tot"][0], adj,
                by["f"][0], by["boys"][0], np.int64(mode), out_all,
                np.int64(1), np.int64(1 + K), np.int64(2 + K), np.int64(2 + K + J))
        # the population: a serial recursion over years, parallel over the batch (scenarios, draws);
        # then the components with the same year step, parallel over the batch and the years
        _k.project_annual(*args)
        if store:
            _k.annual_components(*args)
        return ret
    else:
        nout = 4
        out_all = np.empty(((nout if store else 1), B, ny) + core_out)
        res = out_all.reshape(out_all.shape[:1] + tuple(bshape) + (ny,) + core_out)
        ret = res if then is None else then(res)
        flat = [_flat(a, k, bshape, B) for a, k in zip(arrays, core_nd)]
        outs = list(out_all[1:]) if store else [np.empty((1, 1, 1, 1, 1)) for _ in range(nout - 1)]
        half, n = flags
        _k.project_nyear(*flat, half, float(n), store, out_all[0], *outs)
    return ret


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


def _block(*blocks, kind, arg_dims, bdims, core_nd, ny, store, flags):  # noqa: D103
    """One dask block: unwrap the (single-chunk) core blocks, add length-1 batch axes, run."""
    arrays = []
    for blk, dims, k in zip(blocks, arg_dims, core_nd):
        while isinstance(blk, list):   # a list over the chunks of a contracted core dim: one chunk
            blk = blk[0]
        shape = [blk.shape[dims.index(d)] if d in dims else 1 for d in bdims] + list(blk.shape[blk.ndim - k:])
        arrays.append(blk.reshape(shape))
    return _run(kind, arrays, core_nd, ny, store, flags)


def _lazy(kind, args, core_dims, ny, store, flags, nkept, pop_core):
    """Dask path: one ``blockwise`` task per block of the extra dims (no copies of the inputs)."""
    import dask.array as dsa

    # blockwise pairs the extra dims by position: _extra_dims checks that their labels agree
    bdims, bcoords = _extra_dims(args, {c for cd in core_dims for c in cd})
    args = [x.transpose(*[d for d in bdims if d in x.dims], *cd) for x, cd in zip(args, core_dims)]
    out_core = ["year", *pop_core]
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


_CORE_ALL = ("year", "region", "origin", "sex", "age")


def _eager(kind, P0, inputs, ny, store, flags, pop_core, then):
    """In-memory path: plain numpy views, no dask graph (keeps small projections fast).

    Returns ``then(outputs, dims, extra coords)``, called before the kernel fills the outputs (see :func:`_run`).
    """
    arrays_da = [P0] + [da for da, _ in inputs]
    cores = [pop_core] + [core for _, core in inputs]
    bdims, bcoords = _extra_dims(arrays_da, set(_CORE_ALL))
    full = dict(P0.sizes)
    arrays = []
    for da, core in zip(arrays_da, cores):
        x = np.asarray(da.data, dtype=np.float64)
        dims = da.dims
        sizes = dict(zip(dims, x.shape))
        order = [d for d in bdims if d in sizes] + [d for d in core if d in sizes]
        if list(dims) != order:
            x = np.transpose(x, [dims.index(d) for d in order])
        shape = [sizes.get(d, 1) for d in bdims] + [sizes.get(d, 1) for d in core]
        x = x.reshape(shape)
        target = tuple(shape[:len(bdims)]) + tuple(
            (shape[len(bdims) + i] if d == "year" else full[d]) for i, d in enumerate(core))
        if tuple(shape) != target:
            x = np.broadcast_to(x, target)
        else:   # read-only like a broadcast view: _flat copies what the kernel writes, never the user's array
            x = x.view()
            x.flags.writeable = False
        arrays.append(x)
    core_nd = [len(c) for c in cores]
    dims = bdims + ["year", *pop_core]
    return _run(kind, arrays, core_nd, ny, store, flags, then=lambda res: then(list(res), dims, bcoords))


def _origin_checks(a, P0):
    """The kernel layout with origin groups; the assumptions an origin dim needs (named errors)."""
    if a.kind != "annual":
        raise AssumptionError("an origin dim (birth-region groups) needs the annual engine")
    groups = [str(g) for g in P0["origin"].values.tolist()]
    if P0.sizes["origin"] < 2:
        raise CubeError("base_population: an origin dim needs at least two groups (born in the country first, "
                        f"then born abroad); got origin={groups}")
    if any(w in groups[0].lower() for w in ("abroad", "foreign", "utrikes", "utland")):
        # (a cube sorted alphabetically puts born_abroad first: the newborns would all be born abroad)
        raise CubeError(f"base_population: origin={groups[0]!r} is the first group, but newborns enter the first "
                        f"group (born in the country); reorder, e.g. .sel(origin={groups[1:] + groups[:1]})")
    if a.internal_migration == "balanced":
        raise AssumptionError("balance_in_migration=True with an origin dim: the plan's totals would be balanced "
                              "against the pool of every group at once; give in_migration_shares (closed) or "
                              "in_migration totals with an origin dim (open)")
    for k in ("in_migration", "adjustment"):
        if k in a.data and "origin" not in a.data[k].dims:
            raise AssumptionError(f"{k} lacks an origin dim: with origin groups each group's {k} must be given "
                                  "(the same totals in every group would count them once per group)")
    return _POP_O


def _by_group(totals, profiles, entries, pool, P0):
    """Entry and open in-mover totals per origin group, folded into the profiles (the totals become 1).

    An entry profile without an origin dim puts the entrants (immigrants) in
    the born-abroad group (the last); a total with an origin dim is each
    group's own.  The kernel takes one total per region, so each group's
    ``total × profile`` becomes the profile and the total 1 (the product is
    the same number the kernel would form).
    """
    last = np.zeros(P0.sizes["origin"])
    last[-1] = 1.0
    abroad = xr.DataArray(last, dims="origin", coords={"origin": P0["origin"].values})
    tots, profs = {}, {}
    for key, prof in [(c.key, c.profile) for c in entries] + [(pool.name, pool.profile)]:
        p = profiles[prof]
        if key != pool.name and "origin" not in p.dims:
            p = p * abroad
        profs[prof] = totals[key] * p
        tots[key] = xr.DataArray(np.array(1.0))
    return tots, profs


def _check_years(P0, years, step, base_year):
    """The projected years (consecutive by ``step``, the first after the base year), the step and the open age
    (the base population's ages ``0, step, 2 step, …``)."""
    years = list(years) if isinstance(years, range) else [int(y) for y in years]
    if not years:
        raise CubeError("years: no year to project")
    step = int(step)
    if step < 1:
        raise CubeError(f"step={step}: must be a positive number of years")
    i = next((i for i in range(len(years) - 1) if years[i + 1] - years[i] != step), None)
    if i is not None:
        raise CubeError(f"years must be consecutive by step={step}; year={years[i + 1]} follows year={years[i]}")
    if base_year is not None and years[0] != base_year + step:
        raise CubeError(f"the base population is for year={base_year}; the first projected year must be "
                        f"{base_year + step}, got {years[0]}")
    ages = _labels(P0, "age")
    if ages[0] != 0 or (ages[1:] - ages[:-1] != step).any():
        where = (f"the first age is {ages[0].item()!r}" if ages[0] != 0 else
                 "age={1!r} follows age={0!r}".format(*ages[[int(np.argmax(np.diff(ages) != step)) + k
                                                             for k in (0, 1)]].tolist()))
        raise CubeError(f"base_population: ages must be 0, {step}, {2 * step}, ... (step={step}); {where}")
    if len(ages) < 2:
        raise CubeError(f"base_population: a projection needs at least two ages (0 and an open age); "
                        f"got age={ages.tolist()}")
    return years, step, int(ages[-1])


def _annual_items(a, P0, has_origin):
    """The annual engine's inputs ``(name, assumption, core dims, role)`` in kernel order (from the component
    table), its flags and the names of its outputs."""
    zero_cell = xr.DataArray(np.array(0.0))   # (a 0-d array: xr.DataArray(0.0) is 5x slower)
    cell, fert = (_CELL_O, _FERT_O) if has_origin else (_CELL_A, _FERT_A)
    closed = a.internal_migration == "closed"
    (pool,) = by_kind("pool")
    # an optional component (not in every cube) is projected when the assumptions give it
    exits, entries = [[c for c in by_kind(k) if not c.optional or c.key in a.data] for k in ("exit", "entry")]
    totals = {k: a.data.get(k, zero_cell) for k in [c.key for c in entries] + [pool.name]}
    profiles = {k: a.data.get(k, zero_cell) for k in [c.profile for c in entries] + [pool.profile]}
    if has_origin:   # each group's totals × profile as the profile, totals 1 (see _by_group)
        totals, profiles = _by_group(totals, profiles, entries, pool, P0)
    items = [(c.key, a.data.get(c.key, zero_cell), cell, "exit") for c in exits]
    items += [(c.key, totals[c.key], _REGION, "entry_tot") for c in entries]
    items += [(c.profile, profiles[c.profile], cell, "entry_prof") for c in entries]
    wkey = pool.key if closed else pool.profile
    items += [(wkey, a.data.get(wkey, zero_cell) if closed else profiles[wkey], cell, "wp"),
              (pool.name, totals[pool.name], _REGION, "in_tot"),
              ("adjustment", a.data.get("adjustment"), cell, "adj"),
              ("fertility", a.data["fertility"], fert, "f"),
              ("boys_share", a.data["boys_share"] if "boys_share" in a.data else xr.DataArray(np.array(BOYS_SHARE)),
               _REGION, "boys")]
    mode = {"open": 0, "none": 0, "closed": 1, "balanced": 2}[a.internal_migration]
    roles = tuple(role for _n, da, _c, role in items if da is not None)
    pool_k = [c.name for c in exits].index(pool.source)
    flags = (mode, roles, pool_k, P0.sizes["origin"] if has_origin else 0)
    # the kernel's outputs: population, exits, in-movers, entries, births (see _run)
    names = ["population", *[c.name for c in exits], pool.name, *[c.name for c in entries], "births"]
    return items, flags, names


def _nyear_items(a, step):
    """The n-year engine's inputs (survival ratios, fertility, net migrants, boys' share), flags and outputs."""
    items = [
        ("survival", a.data["survival"], _CELL, None),
        ("fertility", a.data["fertility"], _FERT, None),
        ("net_migration", a.data["net_migration"] if "net_migration" in a.data else xr.DataArray(np.array(0.0)),
         _CELL, None),
        ("boys_share", a.data["boys_share"] if "boys_share" in a.data else xr.DataArray(np.array(BOYS_SHARE)),
         _REGION, None),
    ]
    half = 0.5 if a.migration_timing == "even" else 0.0
    return items, (half, step), ["population", "births", "deaths", "net_migration"]


def _output_dataset(names, res, coords, has_origin, *, annual):
    """The projection's Dataset: each output with its units and age convention, in the component table's order.

    ``res`` holds ``(dims, array)`` pairs (eager) or DataArrays (lazy).
    """
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
            r = r.transpose(..., "region", *(["origin"] if has_origin else []), "sex", "age", "year")
            r.attrs = attrs
            variables[n_] = r
    if annual and len(variables) > 1:   # the table's order
        variables = {k: variables[k] for k in ["population", *(c.name for c in COMPONENTS)] if k in variables}
    if isinstance(res[0], tuple):
        return xr.Dataset(variables, coords=coords)
    return xr.Dataset(variables)


def _compute(kind, pop0, inputs, P0, years, store, flags, names, pop_core):
    """Run the engine eagerly (numpy) or lazily (dask); return the Dataset of the outputs ``names``."""
    ny, nout = len(years), len(names)
    has_origin = "origin" in P0.dims
    coords = {"year": years}
    for c, v in P0.coords.variables.items():
        if set(v.dims) <= {"region", "origin", "sex", "age"}:
            coords[c] = v
    if any(is_dask(x) for x in [pop0] + [da for da, _ in inputs]):
        args, core_dims = [pop0], [list(pop_core)]
        for i, (da, core) in enumerate(inputs):
            arr, cd = _core(da, core, P0, i)
            args.append(arr)
            core_dims.append(cd)
        out, dims, bcoords = _lazy(kind, args, core_dims, ny, store, flags, nout, pop_core)
        coords = {"year": years, **bcoords, **{k: v for k, v in coords.items() if k != "year"}}
        res = [xr.DataArray(out[i], dims=dims, coords=coords) for i in range(nout)]
        return _output_dataset(names, res, coords, has_origin, annual=kind == "annual")

    def wrap(arrs, dims, bcoords):
        # the base population's coords keep their indexes (not rebuilt from the labels)
        year = xr.indexes.PandasIndex(pd.Index(np.array(years)), "year")
        variables, indexes = year.create_variables(), {"year": year}
        if bcoords:
            head = xr.Coordinates(bcoords)
            variables.update(head.variables)
            indexes.update(head.xindexes)
        p0_indexes = P0.xindexes   # (built anew at each access)
        indexes.update((k, p0_indexes[k]) for k in coords if k != "year" and k in p0_indexes)
        cs = xr.Coordinates({**variables, **{k: v for k, v in coords.items() if k != "year"}}, indexes=indexes)
        order = [d for d in dims if d not in _CORE_ALL] + ["region", *(["origin"] if has_origin else []),
                                                           "sex", "age", "year"]
        axes = [dims.index(d) for d in order]
        res = [(order, np.transpose(x, axes)) for x in arrs]
        return _output_dataset(names, res, cs, has_origin, annual=kind == "annual")

    return _eager(kind, pop0, inputs, ny, store, flags, pop_core, wrap)


def project(base_population, assumptions, *, years, step=1, components=True):
    """Return the projected population and its components of change for each year.

    Parameters
    ----------
    base_population : DataArray or Dataset
        Population at the end of the base year (dims ``region, sex, age`` plus
        any extra dims such as ``scenario``; a length-1 ``year`` dim or a scalar
        ``year`` coordinate gives the base year).  A Dataset's ``population`` is used.
        An optional ``origin`` dim holds birth-region groups, the group born
        in the country first (e.g. ``["born_in_sweden", "born_abroad"]``):
        each group has its own risks and fertility where the assumptions
        carry ``origin``; the women of every group give births, all newborns
        enter the first group, immigrants (an entry profile without
        ``origin``) the last; open in-mover totals and an adjustment term
        need an ``origin`` dim; the balanced mode is not available with it.
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
        ``in_migration``, ``out_migration``, ``immigration``, ``emigration``
        — the components of :data:`demokit.components.COMPONENTS`, in its
        order; an optional one (``emigration_unknown``) when the assumptions
        give it; for the ``n``-year variant ``births``, ``deaths`` (cohort deaths in the
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

    With exits ``k`` of :data:`demokit.components.COMPONENTS` (deaths,
    out-movers, emigrants, emigrants to an unknown country) and entries ``j``
    (immigrants): ``P = N · (1 − Σ_k risk_k) + Σ_j tot_j · π_j + I + A``.

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
    if isinstance(w, (int, np.integer)) and w < int(_labels(P0, "age").max()):
        from .small_area import with_open_age
        P0 = with_open_age(P0, int(w))   # from_history(open_age=...) estimated on folded ages
    no_region = "region" not in P0.dims
    if no_region:
        P0 = P0.expand_dims(region=["_all"])
    for dim in ("region", "origin"):   # a duplicated region would be projected twice
        if dim in P0.dims and not P0.get_index(dim).is_unique:
            u, n = np.unique(P0[dim].values, return_counts=True)
            if (n > 1).any():
                dup = u[n > 1][0]
                raise CubeError(f"base_population: duplicated {dim} {getattr(dup, 'item', lambda: dup)()!r}")
    check_counts(P0, "base_population")
    years, step, open_age = _check_years(P0, years, step, base_year)
    has_origin = "origin" in P0.dims
    check_core_chunks(P0, ["region", "origin", "sex", "age"] if has_origin else ["region", "sex", "age"],
                      name="base_population")
    pop_core = _origin_checks(a, P0) if has_origin else _POP_CORE[a.kind]
    with_origin = [k for k, v in a.data.items() if "origin" in v.dims]
    if with_origin and not has_origin:
        raise AssumptionError(f"{with_origin[0]} has an origin dim but the base population has none")
    pop0 = P0 if P0.dtype == np.float64 else P0.astype(np.float64)   # (_eager, _lazy put the core dims last)
    items, flags, names = _annual_items(a, P0, has_origin) if a.kind == "annual" else _nyear_items(a, step)
    inputs = []
    for name, da, core, _role in items:
        if da is None:
            continue
        if no_region and "region" in da.dims:
            raise AssumptionError(f"{name} has a region dim but the base population has none")
        inputs.append((_select(name, da, core, P0, years), core))
    store = bool(components)
    if not components:
        names = names[:1]
    out = _compute(a.kind, pop0, inputs, P0, years, store, flags, names, pop_core)
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
    for d in sub.dims:   # the same labels: alignment would drop a year or age of the parent (or of the sub-areas)
        if d == dim or d not in par.dims or d not in sub.coords or d not in par.coords:
            continue
        a, b = sub[d].values.tolist(), par[d].values.tolist()
        only = [v for v in b if v not in set(a)] or [v for v in a if v not in set(b)]
        if only:
            which, other = ("parent", "sub_areas") if only[0] in set(b) else ("sub_areas", "parent")
            raise CubeError(f"{which} has {d}={only[0]!r}, which {other} lacks: sub-areas and parent must have "
                            f"the same {d!r} labels")
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
