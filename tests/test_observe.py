"""Tests of the observation helpers, against the real torch."""

import warnings

import pytest
import torch

from autograd_conformance.errors import StateLeak
from autograd_conformance.observe import Observation, ProbeError, probe_context, tensor_fact


def test_facts_of_defaults_and_extras():
    obs = Observation()
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    obs.facts_of("x", x)
    obs.facts_of("y", y, "dtype", "shape", "version")
    assert obs.facts == {"x.is_leaf": True, "x.requires_grad": True, "x.grad_fn": None,
                         "y.dtype": "torch.float32", "y.shape": [2], "y.version": 0}


def test_tensor_fact_rounds_float32_and_encodes_non_finite_and_complex():
    assert tensor_fact(torch.tensor([0.1, float("nan"), float("-inf")])) == {
        "dtype": "torch.float32", "shape": [3], "values": [0.1, "nan", "-inf"]}
    assert tensor_fact(torch.tensor([1 + 2j], dtype=torch.complex128))["values"] == [[1.0, 2.0]]
    assert tensor_fact(torch.tensor(0.1, dtype=torch.float64))["values"] == 0.1
    assert tensor_fact(None) is None


def test_outcome_records_exception_and_warnings():
    obs = Observation()
    result = obs.outcome("backward", lambda: torch.ones(1).backward())
    assert result is None
    assert obs.facts["backward.raises"] == "RuntimeError"
    assert obs.facts["backward.message"] == "element 0 of tensors does not require grad and does not have a grad_fn"

    def warn():
        warnings.warn("careful at 0xdeadbeef", UserWarning)
        return 3

    assert obs.outcome("act", warn) == 3
    assert obs.facts["act.raises"] is None and "act.message" not in obs.facts
    assert obs.facts["act.warns"] == ["UserWarning: careful at 0x…"]


def test_cpp_warn_once_is_seen_every_time_inside_a_probe_context():
    """TORCH_WARN_ONCE fires once per process; under probe_context every probe sees it, whatever the order."""
    seen = []
    for _ in range(3):
        obs = Observation()
        with probe_context():
            x = torch.ones(1, requires_grad=True)
            obs.outcome("backward", lambda: (x * x).sum().backward(create_graph=True))
        seen.append(obs.facts.get("backward.warns"))
    assert seen[0] and seen[0] == seen[1] == seen[2]
    assert "create_graph=True will create a reference cycle" in seen[0][0]


def test_probe_context_names_what_a_probe_leaves_changed_and_puts_it_back():
    before = (torch.is_grad_enabled(), torch.is_warn_always_enabled(), torch.get_default_dtype())
    with pytest.raises(StateLeak) as leak:
        with probe_context():
            torch.set_grad_enabled(False)
            torch.set_default_dtype(torch.float64)
            torch.set_anomaly_enabled(True)
    assert leak.value.leaks == ["grad mode: False (expected True)",
                                "anomaly mode (enabled, check_nan): (True, True) (expected (False, True))",
                                "default dtype: 'torch.float64' (expected 'torch.float32')"]
    assert (torch.is_grad_enabled(), torch.is_warn_always_enabled(), torch.get_default_dtype()) == before
    assert not torch.is_anomaly_enabled()


def test_a_probe_that_cleans_up_after_itself_leaks_nothing():
    with probe_context():
        with torch.no_grad(), torch.autograd.graph.save_on_cpu():
            torch.ones(1)
        torch.set_default_dtype(torch.float64)
        torch.set_default_dtype(torch.float32)


def test_os_exit_inside_a_probe_is_stopped():
    import os

    with pytest.raises(SystemExit, match=r"the probe called os._exit\(3\)"):
        with probe_context():
            os._exit(3)
    assert os._exit.__name__ == "_exit"  # the real one is back


def test_probe_context_seeds_the_rng():
    with probe_context():
        a = torch.rand(3)
    with probe_context():
        b = torch.rand(3)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name, value, message", [
    ("x.bogus", 1, "unknown attribute 'bogus'"),
    ("x.is_leaf", "yes", "expects a bool"),
])
def test_bad_facts_are_probe_errors(name, value, message):
    with pytest.raises(ProbeError, match=message):
        Observation().fact(name, value)


def test_a_fact_recorded_twice_must_agree():
    obs = Observation()
    obs.fact("x.count", 1)
    obs.fact("x.count", 1)
    with pytest.raises(ProbeError, match="recorded twice"):
        obs.fact("x.count", 2)


def test_tensor_fact_reads_an_efficient_zero_tensor():
    """sgn's backward leaves a ZeroTensor (no storage) in .grad; it is recorded as zeros."""
    x = torch.tensor([1.5, -2.0], requires_grad=True)
    torch.sgn(x).sum().backward()
    assert tensor_fact(x.grad) == {"dtype": "torch.float32", "shape": [2], "values": [0.0, 0.0]}


def test_a_null_nested_in_a_value_is_refused():
    with pytest.raises(ProbeError, match="a null inside a list or mapping cannot be written"):
        Observation().fact("hook.calls", [[1.0], None])
    Observation().fact("x.grad_fn", None)  # a top-level null is fine: the table writes it as false
