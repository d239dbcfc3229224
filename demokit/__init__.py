"""demokit: demographic accounting and population projection on xarray cubes.

Follows the definitions of Statistics Sweden (SCB); see docs/METHODS.md.
Importing demokit compiles nothing: Numba kernels compile on first use.
"""

__version__ = "0.1.0"

from . import cube, datasets, io  # noqa: F401
from .cube import CubeError, DemokitError, validate  # noqa: F401
from ._warmup import warm_up  # noqa: F401

# --- accounting, Lexis, regions (issue 2) ---
from . import regions  # noqa: F401,E402
from .accounting import balance, concentration_rate, mean_population, net_migration, summary  # noqa: F401,E402
from .lexis import at_event_to_year_end, to_convention, year_end_to_at_event  # noqa: F401,E402

# --- mortality, life tables, standardisation (issue 3) ---
from .standardize import indirect_index, poisson_limits  # noqa: F401
from .lifetable import kannisto, life_table, scale_factor_for_life_expectancy  # noqa: F401
from .mortality import death_rates, death_risk_index, death_risks  # noqa: F401

# --- fertility, migration, smoothing, statistical basis (issue 4) ---
from .fertility import fertility_rates, mean_age_at_childbirth, tfr  # noqa: F401
from .basis import statistical_basis  # noqa: F401
from .smoothing import smooth  # noqa: F401
from .models import Model, ModelError, ModelResults, available_models  # noqa: F401
from .migration import (emigration_risks, in_migrant_index, migrant_distribution,  # noqa: F401
                        out_migration_index, out_migration_risks)

# --- projection, households, labour force (issue 5) ---
from .projection import AssumptionError, Assumptions, constrain, project  # noqa: F401,E402
from .households import household_rates, households  # noqa: F401,E402
from .labour import labour_force  # noqa: F401,E402
from . import scenarios  # noqa: F401,E402
from .scenarios import deregistration_wave  # noqa: F401,E402

# --- small-area estimation and mortality improvement (issue 9) ---
from .small_area import reference_schedules, small_area_rates, with_open_age  # noqa: F401,E402
from .trends import improvement_factors, lee_carter, sweden_lee_carter  # noqa: F401,E402
# --- the council table of a forecast (issue 9) ---
from .tables import forecast_table, observed_table, origin_table  # noqa: F401,E402
# --- cell key method, reconciling perturbed inputs (issue 14) ---
from . import ckm  # noqa: F401,E402
from .reconcile import ReconcileError, reconcile  # noqa: F401,E402
# --- register microdata: income and labour-market tables (issue 13) ---
from . import income  # noqa: F401,E402
from .income import employment_rates  # noqa: F401,E402
# --- scenario matrix and stochastic projections (issue 12) ---
from .stochastic import (fit_ar1, fit_random_walk, scenario_matrix, simulate,  # noqa: F401,E402
                         stochastic_model, stochastic_summary)
