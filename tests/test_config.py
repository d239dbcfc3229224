"""The forecast config: every value type-checked with the key named, unknown keys rejected (issue 10)."""

import copy

import pytest

from demokit.forecast_job import DEMO_CONFIG, ConfigError, check_config


def _cfg(**changes):
    c = copy.deepcopy(DEMO_CONFIG)
    for path, value in changes.items():
        sec, _, key = path.partition("__")
        if key:
            c.setdefault(sec, {})[key] = value
        else:
            c[sec] = value
    return c


@pytest.mark.parametrize("changes, message", [
    ({"scenarios": {"low": {"mortality_scale": -1}}}, r"mortality_scale = -1 is outside"),
    ({"scenarios": {"low": {"mortality_scale": 50}}}, r"mortality_scale = 50 is outside"),
    ({"scenarios": {"low": {"fertility_scale": "high"}}}, r"\[scenarios.low\] fertility_scale must be a number"),
    ({"scenarios": {"low": {"fertilty_scale": 0.9}}}, r"did you mean 'fertility_scale'"),
    ({"scenarios": {"low": {"tfr": {"twenty": 1.5}}}}, r"'twenty' is not a year"),
    ({"scenarios": {"low": {"life_expectancy": 85}}}, r"life_expectancy must be a table by sex"),
    ({"data__region": ["2580"]}, r"\[data\] unknown key 'region'; did you mean 'regions'"),
    ({"data__regions": "2580"}, r"regions must be a list of region codes"),
    ({"forecast__smoothing": "loess"}, r"smoothing must be"),
    ({"forecast__open_age": 30}, r"open_age must be a whole age between 80 and 100"),
    ({"forecast__open_age": 60}, r"open_age must be a whole age between 80 and 100 \(the council table"),
    ({"forecast__open_age": 85, "forecast__old_age": 90}, r"old_age = 90 is above open_age = 85"),
    ({"forecast__mortality_trend": "gompertz"}, r"mortality_trend must be"),
    ({"forecast__base_year": 2017}, r"base_year 2017 lies before"),
    ({"forecast__mortality_years": "long"}, r"mortality_years must be"),
    ({"forecst": {}}, r"unknown key 'forecst'; did you mean 'forecast'"),
    ({"labour__ages": [16, 20, 20, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75]}, r"ages must be increasing"),
    ({"labour__female": [float("nan")] + [0.5] * 12}, r"\[labour\] female rates must lie in \[0, 1\], got nan"),
])
def test_bad_config_values_name_the_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        check_config(_cfg(**changes), source="forecast.toml")


def test_paths_and_region_plans_are_accepted():
    cfg = _cfg(scenarios={"main": {"fertility_scale": {"2020": 1.0, "2024": 0.8},
                                   "in_migration": {"2580": 3000},
                                   "life_expectancy": {"female": {"2030": 86.0}, "male": 83.0}}},
               forecast__open_age=95)
    assert check_config(cfg)["scenarios"]["main"]["in_migration"] == {"2580": 3000}


def test_disclosure_section_is_checked():
    ok = check_config(_cfg(disclosure={"D": 2, "V": 1.0, "seed": 3, "inputs": True}))
    assert ok["disclosure"]["D"] == 2
    with pytest.raises(ConfigError, match=r"\[disclosure\] V must be a variance"):
        check_config(_cfg(disclosure={"D": 2, "V": 9.0}))
    with pytest.raises(ConfigError, match=r"did you mean 'seed'"):
        check_config(_cfg(disclosure={"sed": 1}))


def test_stochastic_with_origin_dim_is_a_clear_error(tmp_path):
    import copy

    from demokit import forecast_job

    cfg = copy.deepcopy(forecast_job.DEMO_CONFIG)
    cfg["data"] = {"dataset": "lulea_birth_region"}
    cfg["stochastic"] = {"draws": 10}
    with pytest.raises(ConfigError, match=r"\[stochastic\] with data by birth region"):
        forecast_job.run(check_config(cfg), tmp_path)


def test_swedish_scenario_name_without_quotes_gets_a_hint(tmp_path):
    from demokit.forecast_job import load_config

    f = tmp_path / "c.toml"
    f.write_text('[data]\ndataset = "norrbotten"\n[scenarios.låg]\nfertility_scale = 0.9\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r'need quotes in TOML: \[scenarios\."låg"\] instead of \[scenarios\.låg\]'):
        load_config(f)
