"""The HTML report in a real browser: headless Debian Chromium driven by selenium (nothing downloads a browser)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from autograd_conformance.html import render_report
from autograd_conformance.report import Report
from autograd_conformance.synthetic import make_report, probe

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
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


def test_report_renders_filters_and_escapes(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    report = make_report(60, families=3)
    evil = probe(999, "family00", "mismatch", message=INJECTION)
    evil.observation["backward.message"] = INJECTION
    report.probes.append(evil)
    browser.get(_page(tmp_path, report))

    families = browser.find_elements(By.CSS_SELECTOR, "details.family")
    assert [f.get_attribute("data-family") for f in families] == ["family00", "family01", "family02"]
    rows = browser.find_elements(By.CSS_SELECTOR, "li.probe")
    assert len(rows) == 61
    assert "61 of 61 probes shown" in browser.find_element(By.ID, "shown").text

    # Filters: only mismatches, then one family, then a text search.
    for box in browser.find_elements(By.CSS_SELECTOR, ".verdict-filter"):
        if (box.get_attribute("value") == "mismatch") != box.is_selected():
            box.click()
    visible = [r for r in rows if r.is_displayed()]
    assert visible and all(r.get_attribute("data-verdict") == "mismatch" for r in visible)
    Select(browser.find_element(By.ID, "family-filter")).select_by_value("family00")
    visible = [r for r in rows if r.is_displayed()]
    assert visible and all(r.get_attribute("data-id").startswith("family00/") for r in visible)
    search = browser.find_element(By.ID, "search")
    search.send_keys("cpu-999")
    WebDriverWait(browser, 10).until(lambda b: "1 of 61" in b.find_element(By.ID, "shown").text)
    visible = [r for r in rows if r.is_displayed()]
    assert [r.get_attribute("data-id") for r in visible] == ["family00/test_probe[cpu-999]"]

    # Expanding the mismatch row shows expected vs observed with the differing fact highlighted.
    visible[0].find_element(By.CSS_SELECTOR, "summary").click()
    # The details are built on the (asynchronous) toggle event: wait for them.
    WebDriverWait(browser, 10).until(lambda b: visible[0].find_elements(By.CSS_SELECTOR, "table.facts"))
    differing = visible[0].find_elements(By.CSS_SELECTOR, "tr.differs td.fact")
    assert [td.text for td in differing] == ["y.grad_fn"]
    detail = visible[0].find_element(By.CSS_SELECTOR, ".detail").text
    assert "ExpectedBackward0" in detail and "A synthetic probe." in detail
    assert "<script>window.__pwned = 1</script>" in detail  # shown as text...
    assert browser.execute_script("return window.__pwned") is None  # ...never run
    assert not browser.find_elements(By.CSS_SELECTOR, ".detail img, .detail script")
    repro = visible[0].find_element(By.CSS_SELECTOR, "pre.repro").get_attribute("textContent")
    assert "def run_probe(" in repro and repro.rstrip().endswith("run_probe(test_probe, device='cpu', case=999)")

    shot = tmp_path / "report.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
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
    filtered = browser.execute_script("""
        const search = document.getElementById("search");
        search.value = "cpu-9999]";
        const start = performance.now();
        search.dispatchEvent(new Event("input"));
        return new Promise(resolve => setTimeout(() => resolve((performance.now() - start - 120) / 1000), 125));
    """)
    WebDriverWait(browser, 10).until(lambda b: "1 of 10000" in b.find_element(By.ID, "shown").text)
    assert "1 of 10000 probes shown" in browser.find_element(By.ID, "shown").text
    print(f"10k probes: load {loaded:.2f} s, filter {filtered:.2f} s, "
          f"{(tmp_path / 'report.html').stat().st_size / 1e6:.1f} MB")
