"""Probes as pytest items: the identity and parameters a probe's result carries into the report."""

from __future__ import annotations

import math

import pytest

from autograd_conformance.items import _json_param

NON_FINITE_PROBE = '''
import math

import pytest


@pytest.mark.parametrize("bound", [math.inf, -math.inf, math.nan, 1.5], ids=["inf", "minus-inf", "nan", "finite"])
def test_bound(obs, bound):
    """The bound as given."""
    obs.fact("bound.value", str(bound))
'''


@pytest.mark.parametrize("value, shown", [(math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan"), (1.5, 1.5),
                                          (None, None), (True, True), ("text", "text")])
def test_a_parameter_is_a_json_value(value, shown):
    assert _json_param(value) == shown


def test_a_probe_parametrized_with_non_finite_floats_is_reported(project):
    """JSON has no inf or nan: such a parameter is written as facts write it, and the report is still written."""
    project.probes(NON_FINITE_PROBE)
    project.table("")
    result = project.run("--ac-record")
    assert result.ret == 0, result.stdout.str()
    result = project.run()
    assert result.ret == 0, result.stdout.str()
    params = {p["id"]: p["params"] for p in project.report()["probes"]}
    assert params["fam/test_bound[inf]"] == {"bound": "inf"} and params["fam/test_bound[nan]"] == {"bound": "nan"}
