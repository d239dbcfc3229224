"""Labels of the forecast's outputs (report, xlsx, CSV headers) in English and Swedish.

``label(key, lang)`` returns the text; English is the key's own text unless
listed in ``_EN``.  Swedish terms follow SCB's (Folkmängd, Födda, Döda,
Inflyttade, Utflyttade, Invandrade, Utvandrade, Flyttnetto, Försörjningskvot).
"""

from __future__ import annotations

LANGS = ("en", "sv")

#: column names of the council table and other outputs → English headers
_EN = {
    "region": "Region", "region_name": "Name", "scenario": "Scenario", "year": "Year",
    "sex": "Sex", "age": "Age",
    "population": "Population", "aged_0": "0 years", "aged_1_5": "1–5", "aged_6_15": "6–15",
    "aged_16_19": "16–19", "aged_20_64": "20–64", "aged_65_79": "65–79", "aged_80_plus": "80+",
    "births": "Births", "deaths": "Deaths", "in_migration": "In-migrants", "out_migration": "Out-migrants",
    "immigration": "Immigrants", "emigration": "Emigrants",
    "emigration_unknown": "Emigrants to an unknown country", "net_migration": "Net migration",
    "natural_increase": "Natural increase", "population_change": "Population change",
    "born_in_sweden": "Born in Sweden", "born_abroad": "Born abroad",
    "dependency_ratio": "Dependency ratio", "tfr": "TFR", "e0": "Life expectancy at birth",
    "employed": "Employed", "not_employed": "Not employed",
    "economic_dependency_ratio": "Economic dependency ratio",
    "actual": "Actual", "forecast": "Forecast", "error_percent": "Error (%)",
    "female": "Women", "male": "Men", "total": "All regions", "low": "low", "main": "main", "high": "high",
    # the statistical basis's methods (report): "smoothing:<config value>", "system:<config value>"
    "smoothing:relational": "relational (relative to the reference schedule, METHODS §5.5)",
    "smoothing:brass": "Brass relational model", "smoothing:pspline": "P-spline",
    "smoothing:None": "none (the period's observed rates)", "smoothing:none": "none (the period's observed rates)",
    "system:open": "open (in-migrants and immigrants: the period's yearly average per region)",
    "system:closed": "closed (in-migrants from the pool of the regions' out-migrants)",
    "system:net": "net (the period's average net migration per cell)",
}

_SV = {
    "Region": "Region", "Name": "Namn", "Scenario": "Scenario", "Year": "År", "Observed": "Utfall",
    "Sex": "Kön", "Age": "Ålder",
    "Population": "Folkmängd", "0 years": "0 år", "1–5": "1–5 år", "6–15": "6–15 år", "16–19": "16–19 år",
    "20–64": "20–64 år", "65–79": "65–79 år", "80+": "80+ år",
    "Births": "Födda", "Deaths": "Döda", "In-migrants": "Inflyttade", "Out-migrants": "Utflyttade",
    "Immigrants": "Invandrade", "Emigrants": "Utvandrade",
    "Emigrants to an unknown country": "Utvandrade till okänt land", "Net migration": "Flyttnetto",
    "Natural increase": "Födelseöverskott", "Population change": "Folkökning",
    "Born in Sweden": "Född i Sverige", "Born abroad": "Född utomlands", "Share": "Andel",
    "Population by birth region": "Folkmängd efter födelseregion",
    "Newborns are counted in the first group (born in Sweden), immigrants in the groups by their own birth region; "
    "death risks and fertility are the same for every group (no deaths or births by birth region for "
    "municipalities), migration is each group's own.":
        "Nyfödda räknas till den första gruppen (födda i Sverige), invandrare till gruppen efter sin egen "
        "födelseregion; dödsrisker och fruktsamhet är desamma för alla grupper (SCB redovisar inte döda och födda "
        "efter födelseregion för kommuner), flyttningarna är varje grupps egna.",
    "Dependency ratio": "Försörjningskvot", "TFR": "Summerad fruktsamhet",
    "Life expectancy at birth": "Medellivslängd vid födseln",
    "Employed": "Förvärvsarbetande", "Not employed": "Ej förvärvsarbetande",
    "Economic dependency ratio": "Ekonomisk försörjningskvot",
    "Actual": "Utfall", "Forecast": "Prognos", "Error (%)": "Avvikelse (%)",
    "Women": "Kvinnor", "Men": "Män", "All regions": "Samtliga kommuner", "low": "låg", "main": "huvud",
    "high": "hög",
    "Municipality": "Kommun",
    # report headings and sentences
    "Contents": "Innehåll",
    "Summary": "Sammanfattning",
    "Population on 31 December": "Folkmängd 31 december",
    "The forecast against what happened": "Prognosen mot utfallet",
    "Statistical basis and scenarios": "Statistikunderlag och scenarier",
    "Assumptions: fertility and mortality": "Antaganden: fruktsamhet och dödlighet",
    "Scenarios": "Scenarier",
    "Files": "Filer",
    "Population pyramid": "Befolkningspyramid",
    "Components of change": "Befolkningsförändringar",
    "Population by scenario": "Folkmängd per scenario",
    "Population, age groups and components of change by year":
        "Folkmängd, åldersgrupper och befolkningsförändringar per år",
    "Population on 31 December by age group": "Folkmängd 31 december efter åldersgrupp",
    "Components of change during the year": "Befolkningsförändringar under året",
    "base year": "basår",
    "observed": "utfall",
    "projected": "prognos",
    "persons": "personer",
    "persons per year": "personer per år",
    "age": "ålder",
    "men": "män",
    "women": "kvinnor",
    "persons (men left, women right)": "personer (män till vänster, kvinnor till höger)",
    "Components of change (dashed: observed)": "Befolkningsförändringar (streckat: utfall)",
    "Total fertility rate (children per woman)": "Summerad fruktsamhet (barn per kvinna)",
    "Life expectancy at birth (years)": "Medellivslängd vid födseln (år)",
    "Total population by scenario": "Folkmängd per scenario",
    "Employed persons by scenario": "Förvärvsarbetande per scenario",
    "years": "år",
    "children per woman": "barn per kvinna",
    "item": "uppgift", "value": "värde",
    "statistical period": "statistikperiod",
    "smoothing": "utjämning",
    "migration system": "flyttmodell",
    "observed TFR (pooled regions)": "summerad fruktsamhet, utfall (regionerna sammanslagna)",
    "observed e0 women / men": "medellivslängd, utfall, kvinnor / män",
    "share of boys among births": "andel pojkar bland födda",
    "changes to the statistical basis": "ändringar av statistikunderlaget",
    "as observed": "som utfallet",
    "name": "namn", "actual": "utfall", "error": "avvikelse", "scenarios' range": "scenariernas intervall",
    "inside": "inom", "yes": "ja", "no": "nej",
    "dependency ratio: persons aged 0–19 and 65+ per 100 aged 20–64 (SCB's demographic dependency ratio)":
        "försörjningskvot: antal personer 0–19 år och 65 år och äldre per 100 personer 20–64 år (SCB:s "
        "demografiska försörjningskvot)",
    "net migration = in-migrants − out-migrants + immigrants − emigrants":
        "flyttnetto = inflyttade − utflyttade + invandrade − utvandrade",
    "net migration = in-migrants − out-migrants + immigrants − emigrants − emigrants to an unknown country":
        "flyttnetto = inflyttade − utflyttade + invandrade − utvandrade − utvandrade till okänt land",
    "natural increase = births − deaths; population change = the change from the year before (natural increase + "
    "net migration in the projected years; in an observed year also SCB's adjustment term)":
        "födelseöverskott = födda − döda; folkökning = förändringen av folkmängden från året innan (födelseöverskott "
        "+ flyttnetto under prognosåren; ett utfallsår innehåller även SCB:s justeringspost)",
    "–: not in the data; the observed emigrants then include those to an unknown country.":
        "–: finns inte i data; de observerade utvandrade omfattar då även dem till okänt land.",
    "The first row (base year) is observed; the following rows are projected. Persons rounded to whole numbers; "
    "the NetCDF keeps the exact values.":
        "Första raden (basåret) är utfall; övriga rader är prognos. Personer avrundade till heltal; "
        "NetCDF-filen har de exakta värdena.",
    "In the sum of all regions, in- and out-migrants include moves between the regions (they cancel in the net).":
        "I summan för samtliga regioner ingår flyttningar mellan regionerna i in- och utflyttade (de tar ut "
        "varandra i flyttnettot).",
    "Source": "Källa",
    "Data": "Data",
    "Labour force": "Arbetskraft",
    "Population by age": "Folkmängd efter ålder",
    "Assumptions": "Antaganden",
    "Forecast vs actual": "Prognos mot utfall",
    "Observed history": "Historik",
    "Council table": "Prognostabell",
    "observed, pooled regions": "utfall, regionerna sammanslagna",
    "assumed": "antagande",
    "relational (relative to the reference schedule, METHODS §5.5)":
        "relationell (i förhållande till referensens mönster, METHODS §5.5)",
    "Brass relational model": "Brass relationella modell", "P-spline": "P-spline",
    "none (the period's observed rates)": "ingen (periodens observerade tal)",
    "open (in-migrants and immigrants: the period's yearly average per region)":
        "öppen (inflyttade och invandrade: periodens årsmedelvärde per kommun)",
    "closed (in-migrants from the pool of the regions' out-migrants)":
        "sluten (inflyttade ur de andra kommunernas utflyttade)",
    "net (the period's average net migration per cell)": "netto (periodens genomsnittliga flyttnetto per cell)",
    # the forecast's files (report)
    "the projection: population and components by scenario, region, sex, age, year":
        "prognosen: folkmängd och befolkningsförändringar efter scenario, region, kön, ålder och år",
    "the council table: population, age groups 0, 1-5, 6-15, 16-19, 20-64, 65-79, 80+, births, deaths, migration, "
    "natural increase, net migration, population change and dependency ratio by region (and their sum), scenario "
    "and year, base year first":
        "prognostabellen: folkmängd, åldersgrupperna 0, 1–5, 6–15, 16–19, 20–64, 65–79, 80+, födda, döda, "
        "flyttningar, födelseöverskott, flyttnetto, folkökning och försörjningskvot efter region (och summan), "
        "scenario och år, basåret först",
    "the projection: population and components by scenario, region, birth region, sex, age, year":
        "prognosen: folkmängd och befolkningsförändringar efter scenario, region, födelseregion, kön, ålder och år",
    "population and components by scenario, region, birth region and year, the base year first (births by the "
    "mother's birth region; newborns all in the first group)":
        "folkmängd och befolkningsförändringar efter scenario, region, födelseregion och år, basåret först (födda "
        "efter moderns födelseregion; alla nyfödda i den första gruppen)",
    "population and components by scenario, region and year (exact values)":
        "folkmängd och befolkningsförändringar efter scenario, region och år (exakta värden)",
    "population by scenario, region, sex, single year of age and year":
        "folkmängd efter scenario, region, kön, ettårsålder och år",
    "assumed TFR and life expectancy at birth by scenario (and year)":
        "antagen summerad fruktsamhet och medellivslängd vid födseln efter scenario (och år)",
    "employed, not employed and economic dependency ratio":
        "förvärvsarbetande, ej förvärvsarbetande och ekonomisk försörjningskvot",
    "the forecast against the actual population (region, year, scenario)":
        "prognosen mot den faktiska folkmängden (region, år, scenario)",
    "quantiles over the stochastic draws of population, labour-force ages, employed and economic dependency ratio "
    "by region ('total') and year":
        "kvantiler över de stokastiska dragningarna av folkmängd, arbetsför ålder, förvärvsarbetande och "
        "ekonomisk försörjningskvot efter region ('total') och år",
    "the tables for Excel, one sheet each (council table, observed history, population by age, assumptions, "
    "labour force, forecast vs actual); persons rounded":
        "tabellerna för Excel, ett blad var (prognostabell, historik, folkmängd efter ålder, antaganden, "
        "arbetskraft, prognos mot utfall); personer avrundade",
    "this report": "denna rapport",
}


def label(key: str, lang: str = "en") -> str:
    """Return the label of ``key`` (a column name or an English text) in ``lang`` (``"en"`` or ``"sv"``)."""
    en = _EN.get(key, key)
    if lang == "sv":
        return _SV.get(en, en)
    return en


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is a supported language, else raise a ValueError naming the choices."""
    if lang not in LANGS:
        from .cube import DemokitError

        raise DemokitError(f"lang = {lang!r}: expected one of {LANGS}")
    return lang
