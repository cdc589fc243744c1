"""How results travel to the collecting process: the object itself with -n 0, JSON from an xdist worker."""

from types import SimpleNamespace

from autograd_conformance import transport
from autograd_conformance.result import ProbeResult


def _report(when="call"):
    return SimpleNamespace(user_properties=[("other", "x")], when=when, nodeid="suites/test_fam.py::test_a",
                           longrepr="worker 'gw0' crashed")


def test_a_local_result_rides_as_the_object_itself():
    result, report = ProbeResult("fam/test_a", "fam", "suites/test_fam.py::test_a", "pass"), _report()
    transport.LocalChannel().send(report, result)
    assert transport.received(report) == [result] and transport.received(report)[0] is result


def test_a_worker_result_rides_as_json_in_the_user_properties_and_comes_back_equal():
    result = ProbeResult("fam/test_a[cpu]", "fam", "suites/test_fam.py::test_a[cpu]", "mismatch", device="cpu",
                         observation={"x.is_leaf": True})
    report = _report()
    transport.WorkerChannel(lambda: True).send(report, result)
    assert report.user_properties[0] == ("other", "x")  # the host's own properties are kept
    (back,) = transport.received(report)
    assert back is not result and back.to_json() == result.to_json()


def test_an_xdist_crash_report_is_recognised_and_nothing_else_is():
    assert transport.crash_of(_report("???")) == ("suites/test_fam.py::test_a", "worker 'gw0' crashed")
    assert transport.crash_of(_report("call")) is None


def test_a_worker_says_which_devices_the_machine_has_only_when_it_ran_probes():
    config = SimpleNamespace(workeroutput={}, stash={})
    transport.WorkerChannel(lambda: False).pytest_sessionfinish(SimpleNamespace(config=config))
    assert config.workeroutput == {}
    transport.WorkerChannel(lambda: True).pytest_sessionfinish(SimpleNamespace(config=config))
    found = transport.availability_of(SimpleNamespace(workeroutput=config.workeroutput))
    assert found["cpu"] is True and set(found) == {"cpu", "cuda", "mps"}
    assert transport.import_leaks_of(SimpleNamespace(workeroutput=config.workeroutput)) == []
    assert transport.availability_of(SimpleNamespace()) is None
