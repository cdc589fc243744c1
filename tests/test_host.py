"""Using the plugin from a host project (pytester): inert until probes are collected, fixtures that neither
shadow nor are shadowed, a team's own probes and table layered over the bundled one, record mode's guards."""

from __future__ import annotations

import json
import textwrap

import pytest

from autograd_conformance.cli import main

HOST_INI = """
[pytest]
addopts = -p no:cacheprovider
ac_expectations = probes/expectations
"""

# The host's own set-up: a hypothesis profile named like ours, fixtures with our fixtures' names, and a
# SIGTERM handler. Its tests check that each is still its own.
HOST_CONFTEST = '''
import signal

import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=1000, derandomize=False, deadline=200)
settings.load_profile("ci")


def host_sigterm(signum, frame):
    raise SystemExit("host handler")


signal.signal(signal.SIGTERM, host_sigterm)


@pytest.fixture
def device():
    return "host-device"


@pytest.fixture
def obs():
    return "host-obs"
'''

HOST_TESTS = '''
import signal

from hypothesis import settings


def test_host_fixtures_are_the_hosts(device, obs):
    assert (device, obs) == ("host-device", "host-obs")


def test_host_hypothesis_profile_is_the_hosts():
    assert settings.get_current_profile_name() == "ci"
    assert (settings().max_examples, settings().derandomize) == (1000, False)


def test_host_sigterm_handler_is_the_hosts():
    assert signal.getsignal(signal.SIGTERM).__name__ == "host_sigterm"
'''

TEAM_PROBES = '''
import torch


def test_detach_shares_version(obs, device):
    """detach() shares the version counter with its source."""
    x = torch.ones(2, device=device, requires_grad=True)
    d = x.detach()
    d.add_(1)
    obs.facts_of("x", x, "version")


def test_sum_grad_fn(obs):
    """sum of a leaf that requires grad has SumBackward0."""
    obs.facts_of("y", torch.ones(2, requires_grad=True).sum(), "grad_fn")
'''


@pytest.fixture
def host(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(HOST_INI)
    pytester.makeconftest(HOST_CONFTEST)
    pytester.mkdir("tests")
    (pytester.path / "tests" / "test_host.py").write_text(HOST_TESTS)
    pytester.mkdir("probes")
    (pytester.path / "probes" / "test_team.py").write_text(TEAM_PROBES)
    return pytester


def test_a_run_without_probes_leaves_the_host_alone(host):
    result = host.runpytest("tests")
    result.assert_outcomes(passed=3)
    assert "= autograd-conformance =" not in result.stdout.str()
    assert not (host.path / "reports").exists()


def test_host_fixtures_do_not_shadow_ours_in_probes_nor_ours_theirs(host):
    assert host.runpytest("probes", "--ac-record=init").ret == 0
    table = (host.path / "probes" / "expectations" / "team.toml").read_text()
    assert '"x.version" = 1' in table and '"y.grad_fn" = "SumBackward0"' in table
    result = host.runpytest()  # the host's tests and its probes together
    result.assert_outcomes(passed=5)
    import torch

    report = json.loads((host.path / "reports" / f"torch-{torch.__version__}-probes.json").read_text())
    assert (host.path / "reports" / f"torch-{torch.__version__}-probes.record.json").exists()
    assert sorted(p["id"] for p in report["probes"]) == ["team/test_detach_shares_version[cpu]",
                                                         "team/test_sum_grad_fn"]
    assert all(p["verdict"] == "pass" for p in report["probes"])


def test_record_never_creates_a_table_silently(host):
    result = host.runpytest("probes", "--ac-record")
    assert result.ret == 2  # a usage error
    result.stdout.fnmatch_lines(["*there is no table at *probes/expectations; create it with --ac-record=init*"])
    assert not (host.path / "probes" / "expectations").exists()


def test_team_rows_override_the_bundled_table(host):
    """A team's table can restate a bundled probe's fact for its environment (here: deliberately wrong)."""
    (host.path / "probes" / "expectations").mkdir()
    (host.path / "probes" / "expectations" / "reference.toml").write_text(textwrap.dedent('''
        ["reference/test_ne_backward[*]"]
        "output.dtype" = "torch.float32"
    '''))
    # Only the reference module: an in-process run must not import torch's OpInfo database, which cannot be
    # imported twice in one process (pytester restores sys.modules after each run).
    result = host.runpytest("--pyargs", "autograd_conformance.suites.test_reference", "-k", "test_ne_backward",
                            "--ac-no-html")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*output.dtype:*", "*expected 'torch.float32'*", "*observed 'torch.bool'*",
                                 "*(row in force: probes/expectations/reference.toml [[]reference/test_ne_backward[[]*[]][]])"])


def test_a_bad_team_table_stops_the_run_before_any_probe(host):
    (host.path / "probes" / "expectations").mkdir()
    (host.path / "probes" / "expectations" / "team.toml").write_text('["team/test_sum_grad_fn"]\n"y.colour" = 1\n')
    result = host.runpytest("probes")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*probes/expectations/team.toml: [[]team/test_sum_grad_fn[]]: fact 'y.colour'*"])
    result = host.runpytest("tests")  # the host's own tests do not touch the table
    assert result.ret == 0


def test_init_creates_a_table_and_a_starter_probe(tmp_path, capsys):
    assert main(["init", str(tmp_path / "autograd")]) == 0
    assert (tmp_path / "autograd" / "expectations").is_dir()
    assert "def test_detach_shares_storage(obs, device):" in (tmp_path / "autograd" / "test_assumptions.py").read_text()
    assert "ac_expectations = " in capsys.readouterr().out
    assert main(["init", str(tmp_path / "autograd")]) == 2
