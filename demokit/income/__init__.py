"""Register microdata → SCB's income and labour-market tables, with the cross-border commuter adjustment.

A person table (one row per person, columns :data:`COLUMNS`) goes through

    micro = dk.income.read_persons(df_or_parquet)        # validation
    adj   = dk.income.adjust_cross_border(micro)         # report §7.1–7.2
    hh    = dk.income.household_income(adj)              # household cdisp, consumption units, helår
    st    = dk.income.statistics(hh, income="csfvi", by=["region", "sex"])
    rk    = dk.income.ranking(st)
    rates = dk.employment_rates(hh)                      # AMPAK förvärvsintensitet → dk.labour_force

Source: SCB (2015), *Gränspendlingens effekt på den officiella inkomststatistiken*
(docs/METHODS.md, "Income and labour-market tables").
"""

from ._schema import COLUMNS, IncomeError, read_persons, validate_persons  # noqa: F401
from .adjust import DANISH_TAX_2012, RULES, DanishTax, adjust_cross_border, impute_cross_border  # noqa: F401
from .households import HOUSEHOLD_TYPES, SCB_SCALE, ConsumptionScale, household_income  # noqa: F401
from .statistics import AGE_GROUPS, ranking, statistics  # noqa: F401
from .employment import PRISBASBELOPP, employment_rates  # noqa: F401
from .partitioned import statistics_from_parquet, write_partitioned  # noqa: F401
