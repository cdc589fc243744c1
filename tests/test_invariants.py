"""Tests of running hypothesis properties inside probes, against the real suites module and registry."""

import importlib.util
from pathlib import Path

import pytest
import torch
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from autograd_conformance import registry
from autograd_conformance.invariants import check
from autograd_conformance.observe import Observation

SUITES = Path(__file__).resolve().parents[1] / "suites"


def load_properties():
    spec = importlib.util.spec_from_file_location("properties_under_test", SUITES / "test_properties.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_property_that_holds():
    obs = Observation()
    assert check(obs, "commutes", lambda a, b: None if a + b == b + a else 1 / 0, a=st.integers(), b=st.integers())
    assert obs.facts["commutes.holds"] is True and obs.facts["commutes.falsifying"] is None
    assert obs.facts["commutes.examples"] > 10


def test_a_broken_strategy_is_a_probe_error_not_a_counterexample():
    with pytest.raises(InvalidArgument):
        check(Observation(), "bad", lambda x: None, x=st.integers(min_value=3, max_value=1))


def test_a_wrongly_declared_op_makes_the_property_fail_readably(monkeypatch):
    fake = registry.Op("fake-sin-declared-zero-gradient", torch.sin, registry.ZERO_GRADIENT, saves="input")
    monkeypatch.setattr(registry, "UNARY", [*registry.UNARY, fake])
    monkeypatch.setitem(registry.BY_ID, fake.id, fake)
    obs = Observation()
    load_properties().test_zero_gradient_and_non_differentiable_classes(obs)
    assert obs.facts["zero_gradient_class.holds"] is False
    falsifying = obs.facts["zero_gradient_class.falsifying"]
    assert "op_id='fake-sin-declared-zero-gradient'" in falsifying
    assert "case=" in falsifying and "AssertionError: fake-sin-declared-zero-gradient:" in falsifying


def test_the_real_registry_satisfies_the_class_property():
    obs = Observation()
    load_properties().test_zero_gradient_and_non_differentiable_classes(obs)
    assert obs.facts["zero_gradient_class.holds"] is True, obs.facts["zero_gradient_class.falsifying"]


def test_properties_keep_their_profile_when_torch_testing_loads_its_own():
    from autograd_conformance.invariants import PROFILES, activate, active_profile

    activate("ci")
    import torch.testing._internal.common_utils  # noqa: F401 - registers and loads torch's own "dev" profile

    obs = Observation()
    check(obs, "count", lambda n: None, n=st.integers())
    assert active_profile() == "ci"
    assert obs.facts["count.examples"] == PROFILES["ci"]["max_examples"]  # ours: 100, not torch's 10
