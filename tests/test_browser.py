"""The HTML report in a real browser: headless Debian Chromium driven by selenium (nothing downloads a browser)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from autograd_conformance.diff import compute
from autograd_conformance.html import render_diff, render_report
from autograd_conformance.report import Report
from autograd_conformance.result import ProbeResult
from autograd_conformance.synthetic import make_report, probe
from autograd_conformance.verdict import Mismatch

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
#: Generous: the page is quick, but CI runs this next to whole suites on two cores.
WAIT = 30
INJECTION = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> "quoted" & <Unique2Backward0 object>'


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = f"headless Chromium is not installed ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message + " — CI must install it (.ci/run does)")
        pytest.skip(message)
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium must never try to fetch a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _page(tmp_path: Path, report: Report) -> str:
    path = tmp_path / "report.html"
    path.write_text(render_report(report), encoding="utf-8")
    return path.as_uri()


def _failing_report() -> Report:
    """A synthetic report with what a reviewer meets: a tensor mismatch, a crashed probe, an injection attempt."""
    report = make_report(60, families=3)
    evil = probe(999, "family00", "mismatch", message=INJECTION)
    evil.observation["backward.message"] = INJECTION
    report.probes.append(evil)
    grads = probe(998, "family01", "mismatch")
    expected = {"dtype": "torch.float32", "shape": [5], "values": [0.0, 1.0, 1.0, 1.0, 0.0]}
    grads.observation["w.grad"] = {"dtype": "torch.float32", "shape": [5], "values": [0.0, 0.0, 1.0, 0.0, 0.0]}
    grads.expectation.facts["w.grad"] = expected
    grads.mismatches = [Mismatch("w.grad", "semantic", expected, grads.observation["w.grad"], "family01.toml [x]")]
    report.probes.append(grads)
    report.probes.append(ProbeResult.unreported("suites/test_family02.py::test_probe[cpu-997]", "crashed",
                                                "the process died while this probe ran (crash or kill)"))
    return Report(report.run_info, report.probes, report.stale, report.sources)


def _visible(browser, selector: str) -> list:
    from selenium.webdriver.common.by import By

    return [e for e in browser.find_elements(By.CSS_SELECTOR, selector) if e.is_displayed()]


def test_report_opens_on_what_needs_a_decision(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    report = _failing_report()
    browser.get(_page(tmp_path, report))
    failing = sum(1 for p in report.probes if p.verdict not in ("pass", "skipped", "unrecorded"))
    unrecorded = sum(1 for p in report.probes if p.verdict == "unrecorded")
    verdict = browser.find_element(By.ID, "verdict").text
    assert verdict.startswith(f"FAIL — {failing} of ") and verdict.endswith(
        f"; {unrecorded} differ where the table has no recording (unrecorded, not failing)")
    # The overview: a stacked bar per family whose segments are coloured links that filter.
    assert len(browser.find_elements(By.CSS_SELECTOR, "#bars .bar")) == 3
    colours = {s.get_attribute("data-verdict"): s.value_of_css_property("background-color")
               for s in browser.find_elements(By.CSS_SELECTOR, "#bars .seg")}
    assert {"pass", "mismatch", "crashed", "timeout"} <= colours.keys()
    assert len(set(colours.values())) == len(colours), f"every verdict its own colour: {colours}"
    assert all(c not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)") for c in colours.values())
    decisions = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#decisions li")]
    assert len(decisions) == failing + unrecorded  # a difference on an unrecorded device is the reviewer's too
    assert any("w.grad: 2 of 5 elements differ" in d for d in decisions)
    # Failures are listed first; passes wait behind a collapsed line.
    visible = _visible(browser, "li.probe")
    assert visible and all(r.get_attribute("data-verdict") != "pass" for r in visible)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    shot = tmp_path / "default.png"
    browser.save_screenshot(str(shot))
    print(f"default view: {height} px; screenshot: {shot}")

    # A segment is a filter, kept in the URL.
    browser.find_element(By.CSS_SELECTOR, '#bars .seg[data-family="family01"][data-verdict="mismatch"]').click()
    WebDriverWait(browser, WAIT).until(lambda b: "v=mismatch" in b.current_url and "f=family01" in b.current_url)
    visible = _visible(browser, "li.probe")
    assert visible and all(r.get_attribute("data-verdict") == "mismatch" and
                           r.get_attribute("id").startswith("p:family01/") for r in visible)


def test_report_filters_search_and_anchors_live_in_the_url(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    report = _failing_report()
    url = _page(tmp_path, report)
    # Search reaches fact names and messages, not only ids.
    browser.get(url + "#q=w.grad")
    WebDriverWait(browser, WAIT).until(lambda b: "1 of 63 probes shown" in b.find_element(By.ID, "shown").text)
    assert [r.get_attribute("id") for r in _visible(browser, "li.probe")] == ["p:family01/test_probe[cpu-998]"]
    browser.get(url + "#q=" + "process%20died")
    WebDriverWait(browser, WAIT).until(lambda b: "1 of 63" in b.find_element(By.ID, "shown").text)
    # A probe's anchor opens it: differing facts first, the differing tensor elements marked.
    browser.get(url + "#p=" + "family01%2Ftest_probe%5Bcpu-998%5D")
    browser.refresh()
    row = browser.find_element(By.ID, "p:family01/test_probe[cpu-998]")
    WebDriverWait(browser, WAIT).until(lambda b: row.find_elements(By.CSS_SELECTOR, "table.facts"))
    facts = [td.text for td in row.find_elements(By.CSS_SELECTOR, "table.facts td.fact")]
    assert facts[0] == "w.grad" and row.find_elements(By.CSS_SELECTOR, "tr.differs td.fact")[0].text == "w.grad"
    hot = [td.get_attribute("title") for td in row.find_elements(By.CSS_SELECTOR, "tr.differs td.hot")]
    assert hot == ["[1]", "[3]", "[1]", "[3]"], hot  # expected and observed side, elements 1 and 3
    assert "2 elements differ" in row.text
    shot = tmp_path / "tensor.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    # A crashed probe says what happened instead of a file:null location and an empty table.
    crashed = browser.find_element(By.ID, "p:family02/test_probe[cpu-997]")
    browser.execute_script("arguments[0].scrollIntoView()", crashed)
    crashed.find_element(By.CSS_SELECTOR, "summary").click()
    WebDriverWait(browser, WAIT).until(lambda b: crashed.find_elements(By.CSS_SELECTOR, ".detail p"))
    text = crashed.find_element(By.CSS_SELECTOR, ".detail").text
    assert "No facts were recorded: the process died" in text and "null" not in text
    assert crashed.find_element(By.CSS_SELECTOR, ".badge").value_of_css_property("background-color") not in (
        "rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")


def test_report_escapes_injected_text(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(_page(tmp_path, _failing_report()) + "#p=" + "family00%2Ftest_probe%5Bcpu-999%5D")
    browser.refresh()
    row = browser.find_element(By.ID, "p:family00/test_probe[cpu-999]")
    WebDriverWait(browser, WAIT).until(lambda b: row.find_elements(By.CSS_SELECTOR, "table.facts"))
    detail = row.find_element(By.CSS_SELECTOR, ".detail").text
    assert "<script>window.__pwned = 1</script>" in detail  # shown as text...
    assert browser.execute_script("return window.__pwned") is None  # ...never run
    assert not browser.find_elements(By.CSS_SELECTOR, ".detail img, .detail script")
    repro = row.find_element(By.CSS_SELECTOR, "pre.repro").get_attribute("textContent")
    assert "def run_probe(" in repro and repro.rstrip().endswith("run_probe(test_probe, device='cpu', case=999)")


def test_diff_page_filters_by_kind_and_family(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    before = make_report(40, families=2, run_name="before")
    after = make_report(40, families=2, run_name="after")
    for p in after.probes[::2]:
        if p.verdict == "pass":
            p.observation["x.is_leaf"] = False
            p.mismatches = [Mismatch("x.is_leaf", "semantic", True, False, None)]
    path = tmp_path / "diff.html"
    path.write_text(render_diff(compute(before, after), {"before": "before.html", "after": "after.html"}))
    browser.get(path.as_uri())
    assert browser.find_element(By.ID, "diff-verdict").value_of_css_property("background-color") not in (
        "rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
    assert browser.find_element(By.ID, "link-after").get_attribute("href").endswith("/after.html")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#bars .bar")) == 2
    sections = browser.find_elements(By.CSS_SELECTOR, "#changes details.family")
    assert [s.get_attribute("data-family") for s in sections] == ["family00", "family01"]
    browser.get(path.as_uri() + "#f=family01")
    browser.refresh()
    WebDriverWait(browser, WAIT).until(lambda b: [s.get_attribute("data-family") for s in
                                                b.find_elements(By.CSS_SELECTOR, "#changes details.family")] == ["family01"])
    kinds = {td.text for td in browser.find_elements(By.CSS_SELECTOR, "#changes td.kind")}
    assert kinds == {"new behaviour"}
    shot = tmp_path / "diff.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")


def test_ten_thousand_probe_report_loads_and_filters(browser, tmp_path):
    """A 10k-probe page renders and filters (timings are printed; the benchmark reports them)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    report = make_report(10_000)
    url = _page(tmp_path, report)
    start = time.perf_counter()
    browser.get(url)
    loaded = time.perf_counter() - start
    assert "10000 of 10000 probes shown" in browser.find_element(By.ID, "shown").text
    print(f"10k probes: page height {browser.execute_script('return document.documentElement.scrollHeight')} px")
    filtered = browser.execute_script("""
        const search = document.getElementById("search");
        search.value = "cpu-9999]";
        const start = performance.now();
        search.dispatchEvent(new Event("input"));
        return new Promise(resolve => setTimeout(() => resolve((performance.now() - start - 120) / 1000), 125));
    """)
    WebDriverWait(browser, WAIT).until(lambda b: "1 of 10000" in b.find_element(By.ID, "shown").text)
    assert "1 of 10000 probes shown" in browser.find_element(By.ID, "shown").text
    print(f"10k probes: load {loaded:.2f} s, filter {filtered:.2f} s, "
          f"{(tmp_path / 'report.html').stat().st_size / 1e6:.1f} MB")


def test_changelog_reads_at_1280_px_and_opens_what_a_link_points_at(browser, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    from autograd_conformance.changelog import build
    from autograd_conformance.expectations import Table
    from autograd_conformance.html import render_changelog
    from autograd_conformance.probes import default_table

    log = build(Table.load(default_table(), "0"), "2.4", "2.15")
    path = tmp_path / "changelog.html"
    path.write_text(render_changelog(log), encoding="utf-8")
    browser.set_window_size(1280, 900)
    try:
        browser.get(path.as_uri())
        width = browser.execute_script("return document.documentElement.clientWidth")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width  # no sideways scroll
        first = browser.find_element("css selector", "#biggest a")
        target = first.get_attribute("href").split("#", 1)[1]
        first.click()  # the page opens the target on hashchange, which the browser fires after the click returns
        WebDriverWait(browser, WAIT).until(lambda b: b.execute_script(f"return document.getElementById('{target}').open"))
        probe = browser.find_element("id", target).find_element("css selector", "ul.probes a")
        timeline = probe.get_attribute("href").split("#", 1)[1]
        probe.click()
        WebDriverWait(browser, WAIT).until(lambda b: b.execute_script(f"return document.getElementById('{timeline}').open"))
        opened = browser.execute_script("return [...document.querySelectorAll('details')].filter(d => d.open).length")
        browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width  # opened too
        assert opened >= 2
    finally:
        browser.set_window_size(1400, 1000)
