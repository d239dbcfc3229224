"""The components of change of the annual projection, as one table (METHODS §6.1).

Every place that needs to know the components — the checks of
:class:`demokit.Assumptions`, the arguments of the projection kernel, the
variables :func:`demokit.project` returns, :data:`demokit.cube.EVENT_VARIABLES`,
the cohort balance, :func:`demokit.net_migration`, the council table and the
command line — reads :data:`COMPONENTS`.  Adding a component is one row here
(and, if SCB publishes it, its content code).

Kinds:

* ``"births"``: fertility rates by the mother's age; the newborns start the cohort aged 0;
* ``"exit"``: an interval risk of leaving the cohort (deaths, out-movers,
  emigrants); the kernel receives the exit risks as one tuple of arrays, in
  the order of this table;
* ``"pool"``: in-movers allocated from the country's pool of one exit (the
  out-movers) by shares (closed system), or assumed totals × profile (open
  system), or totals balanced against the pool (IPF);
* ``"entry"``: an assumed yearly total per region spread by a sex-age profile
  (immigrants).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Component", "COMPONENTS", "by_kind", "component", "EXIT_KEYS", "ENTRY_KEYS", "MIGRATION",
           "EVENT_NAMES", "REQUIRED_MIGRATION", "balance_equation"]


@dataclass(frozen=True)
class Component:
    """One component of change of the annual projection.

    Attributes
    ----------
    name : str
        The output variable (and the cube's event variable).
    key : str
        The assumptions key (for ``"pool"``: the closed-system shares; the open
        system's totals are ``name``).
    kind : {"births", "exit", "pool", "entry"}
    core : tuple of str
        The core dims the assumption may carry (plus any extra dims).
    leaves : bool or None
        True: subtracted from the cohort (``P = N − Σ exits + Σ entries``);
        False: added; None: births (they start a cohort, they are not in its balance).
    migration : bool
        Part of net migration (:func:`demokit.net_migration`).
    content_code : str or None
        SCB's content code of the published variable (``demokit.io.CONTENT_CODES``).
    profile : str or None
        ``"entry"`` / ``"pool"``: the key of the sex-age profile of the totals.
    source : str or None
        ``"pool"``: the exit whose country-wide sum is the pool.
    reference : str or None
        ``"exit"``: the schedule of :func:`demokit.reference_schedules` whose
        shape the small-area estimate of the risk borrows (METHODS §5.6).
    optional : bool
        A cube (and a balance) may lack it: older data hold it inside another
        component (e.g. emigrants to an unknown country inside ``emigration``).
    description : str
    """

    name: str
    key: str
    kind: str
    core: tuple
    leaves: bool | None
    migration: bool
    content_code: str | None
    profile: str | None = None
    source: str | None = None
    reference: str | None = None
    optional: bool = False
    description: str = ""


_CELL = ("year", "sex", "age", "region")
_REGION = ("year", "region")
_FERT = ("year", "age", "region")

#: the projection's components, in the order of the output variables
COMPONENTS = (
    Component("births", "fertility", "births", _FERT, None, False, "BE0101E2",
              description="live births by the mother's age at the end of the year; sex of the child"),
    Component("deaths", "death_risks", "exit", _CELL, True, False, "BE0101D8", reference="death_risk",
              description="deaths: interval risk q by the age at the end of the year"),
    Component("in_migration", "in_migration_shares", "pool", _CELL, False, True, "BE0101A2",
              profile="in_migration_profile", source="out_migration",
              description="in-movers from other regions of the country"),
    Component("out_migration", "out_migration_risks", "exit", _CELL, True, True, "BE0101A3",
              reference="out_migration_risk",
              description="out-movers to other regions of the country"),
    Component("immigration", "immigration", "entry", _REGION, False, True, "BE0101AX",
              profile="immigration_profile", description="immigrants: yearly total x sex-age profile"),
    Component("emigration", "emigration_risks", "exit", _CELL, True, True, "BE0101AY", reference="emigration_risk",
              description="emigrants to a known country"),
    # SCB: the content BE0101AY (emigrants) of the table by country of emigration, country "unknown"
    # (mostly the Tax Agency's deregistrations of persons found no longer to live in Sweden)
    Component("emigration_unknown", "emigration_unknown_risks", "exit", _CELL, True, True, None,
              reference="emigration_risk", optional=True,
              description="emigrants to an unknown country (deregistrations)"),
)


def component(name: str) -> Component:
    """Return the component called ``name`` (output name or assumptions key)."""
    for c in COMPONENTS:
        if name in (c.name, c.key):
            return c
    raise KeyError(name)


def by_kind(kind: str) -> tuple:
    """Return the components of one kind, in table order."""
    return tuple(c for c in COMPONENTS if c.kind == kind)


#: the assumption keys of the exit risks (the kernel's tuple of exits, in this order)
EXIT_KEYS = tuple(c.key for c in by_kind("exit"))
#: the assumption keys of the entry totals (each with ``Component.profile``)
ENTRY_KEYS = tuple(c.key for c in by_kind("entry"))
#: (name, sign) of the flows of net migration: +1 in, -1 out
MIGRATION = tuple((c.name, -1 if c.leaves else 1) for c in COMPONENTS if c.migration)
#: the migration flows every cube with gross flows has (the optional ones may be absent)
REQUIRED_MIGRATION = tuple(c.name for c in COMPONENTS if c.migration and not c.optional)
#: the event variables of the projection, in table order
EVENT_NAMES = tuple(c.name for c in COMPONENTS)


def balance_equation(names=None) -> str:
    """Return the balance ``population = population_start − deaths + ...`` over the components in ``names``."""
    terms = []
    for c in COMPONENTS:
        if c.leaves is None or (names is not None and c.name not in names):
            continue
        terms.append(("- " if c.leaves else "+ ") + c.name)
    return "population = population_start " + " ".join(terms)
