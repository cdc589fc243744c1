"""The probe result: one typed record, exact JSON round trips, and results of probes that never reported."""

from autograd_conformance import report as report_mod
from autograd_conformance.result import ProbeResult
from autograd_conformance.synthetic import make_report, probe


def test_every_verdict_round_trips_exactly():
    for result in make_report(40, families=2).probes:
        data = result.to_json()
        assert ProbeResult.from_json(data).to_json() == data
        assert ProbeResult.from_json(data) == result


def test_a_probe_that_never_reported_names_its_device_and_file():
    result = ProbeResult.unreported("suites/test_inplace.py::test_x[cuda-sigmoid]", "crashed", "worker died")
    assert (result.id, result.family, result.device, result.verdict) == (
        "inplace/test_x[cuda-sigmoid]", "inplace", "cuda", "crashed")
    assert result.to_json()["location"] == {"file": "suites/test_inplace.py", "line": None, "end_line": None}
    assert ProbeResult.unreported("suites/test_fam.py::test_y", "crashed", "m").device is None


def test_record_key_and_table_device():
    result = probe(3, "fam")
    assert result.record_key == "fam/test_probe[*-3]" and result.table_device == "cpu"
    assert ProbeResult("fam/t", "fam", "n", "pass").table_device == "cpu"


def test_results_fit_the_schema():
    report_mod.validate(make_report(20).to_json())
