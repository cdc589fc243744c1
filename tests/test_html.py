"""Tests of HTML rendering (escaping, structure); the browser test checks behaviour."""

import json
import re

from autograd_conformance.diff import compute
from autograd_conformance.html import render_diff, render_report, script_json
from autograd_conformance.synthetic import make_report, probe

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
    assert page.count("<script") == 2  # the data block and the page's own script
    data = re.search(r'<script type="application/json" id="probe-data">(.*?)</script>', page, re.S).group(1)
    assert json.loads(data)["probes"][-1]["message"] == EVIL


def test_report_page_is_self_contained():
    page = render_report(make_report(3, families=1))
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "<link" not in page


def test_report_page_groups_probes_by_family():
    page = render_report(make_report(30, families=3))
    assert page.count('<details class="family"') == 3
    assert page.count('<li class="probe') == 30


def test_diff_page_lists_changed_first_and_escapes():
    before = make_report(10, families=1, run_name="before")
    after = make_report(10, families=1, run_name="after")
    target = next(p for p in after.probes if p.verdict == "pass")
    target.observation["backward.message"] = EVIL
    page = render_diff(compute(before, after))
    assert "<script>alert(1)" not in page
    assert page.index('id="changed"') < page.index("</body>")
    assert "1 changed" in page
    assert "No behavioural differences" in render_diff(compute(before, before))
