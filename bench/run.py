"""Benchmark: harness overhead against the plain-script floor, xdist scaling, and report/diff cost at 1k and 10k probes.

Every figure is the median of --repeat runs of a fresh process on this machine. Prints a table and writes JSON.

    python bench/run.py                 # full benchmark (several minutes on 2 cores)
    python bench/run.py --repeat 1      # one run of each
    python bench/run.py --skip-suite    # only the report/diff figures
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FLOOR = """
import json, time
start = time.perf_counter()
import torch
from autograd_conformance.direct import run_suites
result = run_suites({suites!r})
result["inside_s"] = time.perf_counter() - start
print(json.dumps(result))
"""

TARGETS = {
    "suite -n 2 / floor": ("<=", 1.5),
    "speed-up -n 2 vs -n 0": (">=", 1.6),
    "html 10k (s)": ("<=", 2.0),
    "diff 10k (s)": ("<=", 2.0),
}


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float | str]:
    """Wall and CPU seconds and peak memory (MiB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0,):
        raise SystemExit(f"benchmark step failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "maxrss_mib": after.ru_maxrss / 1024, "stdout": done.stdout}


def median_of(repeat: int, cmd: list[str]) -> dict[str, float]:
    runs = [measure(cmd) for _ in range(repeat)]
    out = {k: statistics.median(r[k] for r in runs) for k in ("wall", "cpu")}
    out["maxrss_mib"] = max(r["maxrss_mib"] for r in runs)
    out["last_stdout"] = runs[-1]["stdout"]
    return out


def suite_figures(repeat: int, tmp: Path) -> dict[str, dict[str, float]]:
    py = sys.executable
    floor = median_of(repeat, [py, "-c", FLOOR.format(suites=str(ROOT / "suites"))])
    probes = json.loads(floor.pop("last_stdout").strip().splitlines()[-1])["probes"]
    figures = {"floor": {**floor, "probes": probes}}
    for workers in ("0", "2", "auto"):
        # The suite as users run it: `autograd-conformance run` (the bundled suite with its own pytest settings).
        cmd = [py, "-m", "autograd_conformance.cli", "run", "-q", "-p", "no:cacheprovider", "-n", workers,
               f"--ac-report-dir={tmp}", f"--ac-run-name=bench-{workers}", "--ac-no-html"]
        result = median_of(repeat, cmd)
        result.pop("last_stdout")
        report = json.loads((tmp / f"bench-{workers}.json").read_text())
        result["probes"] = sum(1 for p in report["probes"] if p["verdict"] != "skipped")
        result["report_bytes"] = (tmp / f"bench-{workers}.json").stat().st_size
        result["report_entries"] = len(report["probes"])
        figures[f"suite -n {workers}"] = result
    return figures


def report_figures(repeat: int, tmp: Path) -> dict[str, dict[str, float]]:
    sys.path.insert(0, str(ROOT / "src"))
    from autograd_conformance.synthetic import make_report

    figures = {}
    for n in (1_000, 10_000):
        before, after = make_report(n, run_name="before"), make_report(n, run_name="after")
        for p in after.probes[::7]:
            if p.observation:
                p.observation["x.is_leaf"] = False
        a, b = tmp / f"before-{n}.json", tmp / f"after-{n}.json"
        a.write_text(json.dumps(before.to_json()))
        b.write_text(json.dumps(after.to_json()))
        cli = [sys.executable, "-m", "autograd_conformance.cli"]
        html = median_of(repeat, cli + ["html", str(a), "-o", str(tmp / f"r-{n}.html")])
        html.pop("last_stdout")
        html["html_bytes"] = (tmp / f"r-{n}.html").stat().st_size
        diff_cmd = cli + ["diff", str(a), str(b), "--format", "json", "-o", str(tmp / f"d-{n}.json")]
        runs = []
        for _ in range(repeat):
            before_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            code = subprocess.run(diff_cmd, cwd=ROOT, capture_output=True).returncode
            runs.append(time.perf_counter() - start)
            if code != 1:
                raise SystemExit(f"diff exited {code}, expected 1 (differences)")
        figures[f"{n // 1000}k"] = {
            "html_s": html["wall"], "html_maxrss_mib": html["maxrss_mib"], "html_bytes": html["html_bytes"],
            "diff_s": statistics.median(runs), "diff_maxrss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "report_bytes_per_probe": a.stat().st_size / n,
        }
    return figures


ISOLATION = """
import time, torch
from autograd_conformance.isolation import isolated
for _ in range(200):
    with isolated({"warn always": True}):
        pass
start = time.perf_counter()
for _ in range(2000):
    with isolated({"warn always": True}):
        pass
print((time.perf_counter() - start) / 2000 * 1e6)
"""


def isolation_figure(repeat: int) -> float:
    """The isolation check's cost per probe (establish the known state, check it, put it back), in
    microseconds: the median over ``repeat`` fresh processes of 2000 checks each."""
    runs = [float(subprocess.run([sys.executable, "-c", ISOLATION], capture_output=True, text=True,
                                 check=True).stdout.strip()) for _ in range(repeat)]
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    parser.add_argument("--skip-suite", action="store_true", help="only the report/diff figures")
    parser.add_argument("--out", default=str(ROOT / "reports" / "benchmark.json"), help="where the JSON goes")
    args = parser.parse_args()
    results: dict[str, object] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                              "platform": platform.platform()}, "repeat": args.repeat}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_suite:
            results["suite"] = suite_figures(args.repeat, tmp)
        results["reports"] = report_figures(args.repeat, tmp)
        results["isolation_us_per_probe"] = isolation_figure(args.repeat)

    rows = []
    checks = {}
    if "suite" in results:
        s = results["suite"]
        floor = s["floor"]
        rows.append(("floor: probes without pytest (incl. torch import)", f"{floor['wall']:.2f} s wall, {floor['cpu']:.2f} s cpu, {floor['probes']} probes"))
        for name in ("suite -n 0", "suite -n 2", "suite -n auto"):
            r = s[name]
            rows.append((name, f"{r['wall']:.2f} s wall, {r['cpu']:.2f} s cpu, {r['wall'] / floor['wall']:.2f}x floor, {r['probes']} probes"))
        overhead = (s["suite -n 0"]["wall"] - floor["wall"]) / floor["probes"] * 1000
        rows.append(("per-probe harness overhead (-n 0 - floor) / probes", f"{overhead:.2f} ms"))
        rows.append(("report size (real suite)", f"{s['suite -n 0']['report_bytes'] / 1e6:.2f} MB, "
                     f"{s['suite -n 0']['report_bytes'] / s['suite -n 0']['report_entries']:.0f} bytes/probe entry"))
        checks["suite -n 2 / floor"] = s["suite -n 2"]["wall"] / floor["wall"]
        checks["speed-up -n 2 vs -n 0"] = s["suite -n 0"]["wall"] / s["suite -n 2"]["wall"]
        results["per_probe_overhead_ms"] = overhead
    rows.append(("isolation check per probe (state known before, checked after)",
                 f"{results['isolation_us_per_probe']:.0f} µs"))
    for size, r in results["reports"].items():
        rows.append((f"html {size} probes", f"{r['html_s']:.2f} s, peak {r['html_maxrss_mib']:.0f} MiB, {r['html_bytes'] / 1e6:.1f} MB page"))
        rows.append((f"diff {size} vs {size} probes", f"{r['diff_s']:.2f} s"))
        rows.append((f"report bytes/probe ({size} synthetic)", f"{r['report_bytes_per_probe']:.0f}"))
    checks["html 10k (s)"] = results["reports"]["10k"]["html_s"]
    checks["diff 10k (s)"] = results["reports"]["10k"]["diff_s"]
    results["targets"] = {}
    for name, value in checks.items():
        op, bound = TARGETS[name]
        met = value <= bound if op == "<=" else value >= bound
        results["targets"][name] = {"value": value, "target": f"{op} {bound}", "met": met}
        rows.append((f"target {name} {op} {bound}", f"{value:.2f} {'met' if met else 'NOT met'}"))

    width = max(len(r[0]) for r in rows)
    print(f"autograd-conformance benchmark ({os.cpu_count()} CPUs, median of {args.repeat})")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
