"""The bundled suite's xdist scheduler (loadscope with the ops family as one scope)."""

from __future__ import annotations

CRASHING = '''
import os

import pytest

@pytest.mark.parametrize("i", range(20))
def test_scope(i):
    if i in (3, 11):
        os.abort()

@pytest.mark.parametrize("i", range(20))
def test_other(i):
    pass
'''

SCHEDULER = '''
def pytest_xdist_make_scheduler(config, log):
    from autograd_conformance.schedule import OpsTogetherScheduling
    return OpsTogetherScheduling(config, log)
'''


def test_a_crashed_probe_is_reported_once_and_the_rest_of_its_scope_runs(pytester):
    """xdist's loadscope re-sends a crashing test to every replacement worker; ours reports it once."""
    pytester.makepyfile(test_crashing=CRASHING)
    pytester.makeconftest(SCHEDULER)
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=38, failed=2)
    crashed = [line for line in result.outlines if "crashed while running" in line and line.startswith("FAILED")]
    assert len(crashed) == 2
    assert {line.split(" ")[1] for line in crashed} == {"test_crashing.py::test_scope[3]",
                                                        "test_crashing.py::test_scope[11]"}
