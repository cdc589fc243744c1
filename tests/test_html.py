"""Tests of HTML rendering (escaping, structure); the browser test checks behaviour."""

import json
import re

from autograd_conformance.diff import compute
from autograd_conformance.html import render_diff, render_report, script_json
from autograd_conformance.synthetic import make_report, probe
from autograd_conformance.verdict import Mismatch

EVIL = '</script><script>alert(1)</script><b onmouseover="x">&amp;'


def test_script_json_cannot_close_the_script_element():
    text = str(script_json({"m": EVIL}))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"m": EVIL}


def test_report_page_escapes_everything_from_the_report():
    report = make_report(5, families=1)
    report.run_info.run_name = EVIL
    bad = probe(7, "family00", "mismatch", message=EVIL)
    bad.id = EVIL
    report.probes.append(bad)
    page = render_report(report)
    assert "<script>alert(1)" not in page and 'onmouseover="x"' not in page
    assert page.count("<script") == 3  # the data block and the page's two scripts
    data = re.search(r'<script type="application/json" id="probe-data">(.*?)</script>', page, re.S).group(1)
    assert json.loads(data)["probes"][-1]["message"] == EVIL


def test_report_page_is_self_contained():
    page = render_report(make_report(3, families=1))
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "<link" not in page


def test_report_page_groups_probes_by_family_failures_first():
    report = make_report(30, families=3)
    page = render_report(report)
    assert page.count('<details class="family"') == 3
    assert page.count('<li class="probe') == 30
    first = page.index('<li class="probe')
    assert 'data-verdict="pass"' not in page[first:first + 200]  # a family lists what needs a decision first
    assert page.count('class="seg v-') >= 3  # a stacked bar per family
    failing = [p for p in report.probes if p.verdict not in ("pass", "skipped")]
    assert f"Needs a decision ({len(failing)})" in page
    assert page.index('id="decisions"') < page.index('id="probes"')


def test_report_verdict_banner_and_partial_warning():
    green = make_report(3, families=1)
    for p in green.probes:
        p.verdict, p.mismatches = "pass", []
    page = render_report(green)
    assert 'class="verdict pass"' in page and "PASS — 3 probes conform" in page and "not-baseline" not in page
    green.run_info.partial, green.run_info.partial_reason = True, "-k"
    assert "This report is a partial run (-k)" in render_report(green)
    red = render_report(make_report(30, families=1))
    assert 'class="verdict fail"' in red and "FAIL — " in red


def test_diff_page_separates_new_from_accepted_and_escapes():
    before = make_report(10, families=1, run_name="before")
    after = make_report(10, families=1, run_name="after")
    target = next(p for p in after.probes if p.verdict == "pass")
    target.observation["backward.message"] = EVIL
    target.verdict, target.mismatches = "drift", [Mismatch("backward.message", "text", None, EVIL, None, "not in table")]
    page = render_diff(compute(before, after), {"before": "before.html", "after": "after.html"})
    assert "<script>alert(1)" not in page
    assert 'href="before.html"' in page and 'href="after.html"' in page
    data = json.loads(re.search(r'id="diff-data">(.*?)</script>', page, re.S).group(1))
    assert [c["category"] for p in data["changed"] for c in p["changes"]] == ["new-text"]
    assert 'class="verdict warn"' in page
    target.expectation.facts["backward.message"] = EVIL  # the table states the new wording for run two
    target.verdict, target.mismatches = "pass", []
    page = render_diff(compute(before, after))
    data = json.loads(re.search(r'id="diff-data">(.*?)</script>', page, re.S).group(1))
    assert [c["category"] for p in data["changed"] for c in p["changes"]] == ["accepted-text"]
    assert 'class="verdict pass"' in page
    assert "No behavioural differences" in render_diff(compute(before, before))


def test_matrix_page_orders_runs_by_torch_and_links_each_cell_to_what_changed():
    from autograd_conformance.html import render_matrix

    newer = make_report(20, families=2, run_name="newer", torch_version="2.14.1")
    older = make_report(20, families=2, run_name="older", torch_version="2.13.0+cpu")
    target = next(p for p in newer.probes if p.verdict == "pass" and p.family == "family01")
    target.observation["x.is_leaf"] = False
    page = render_matrix([newer, older], ["newer.html", None])
    assert page.index("torch <code>2.13.0+cpu</code>") < page.index("torch <code>2.14.1</code>")
    assert 'href="newer.html"' in page and 'href="#changes-1-family01"' in page
    section = page[page.index('id="changes-1-family01"'):]
    assert target.id in section and "x.is_leaf" in section and "False" in section
    assert 'id="changes-0-' not in page  # the first run has nothing before it


def test_report_page_carries_each_probes_timeline():
    report = make_report(3, families=1)
    report.probes[0].timeline = [{"before_release": "2.13.0", "after_release": "2.14.1", "fact": "y.grad_fn",
                                  "before": "A", "after": "B", "reason": "why", "link": None}]
    data = json.loads(re.search(r'id="probe-data">(.*?)</script>', render_report(report), re.S).group(1))
    assert data["probes"][0]["timeline"][0]["reason"] == "why"
