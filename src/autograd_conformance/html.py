"""HTML views of saved reports and diffs: self-contained pages (no network), everything from the report escaped."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from .diff import Diff
from .report import Report
from .repro import PRELUDE
from .result import Location, ProbeResult
from .verdict import VERDICTS


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader(__package__, "templates"),
                              autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                              trim_blocks=True, lstrip_blocks=True)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def script_json(value: Any) -> Markup:
    """JSON safe to embed in a <script> element: no '<', '>' or '&' survives literally."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _raw_asset(name: str) -> Markup:
    """A packaged CSS/JS asset, trusted and inlined as is (it contains no report data)."""
    return Markup(_asset(name))


def render_report(report: Report) -> str:
    """The report as one HTML page: header, verdict counts, filters, probes grouped by family."""
    families: dict[str, list[tuple[int, ProbeResult]]] = {}
    data = []
    for index, p in enumerate(report.probes):
        families.setdefault(p.family, []).append((index, p))
        exp = p.expectation
        data.append({
            "id": p.id, "family": p.family, "nodeid": p.nodeid, "doc": p.doc, "message": p.message,
            "observation": p.observation, "expected": exp.facts if exp else None,
            "sources": exp.sources if exp else None, "keys": exp.keys if exp else None,
            "differs": [m.fact for m in p.mismatches],
            "location": (p.location or Location("")).to_json(), "duration": p.duration, "repro": p.repro,
        })
    payload = {"probes": data, "sources": report.sources, "prelude": PRELUDE,
               "torch": report.run_info.torch_version}
    return _env().get_template("report.html.j2").render(
        info=report.run_info, summary=report.summary, stale=report.stale, verdicts=VERDICTS,
        families=sorted(families.items()), data_json=script_json(payload), css=_raw_asset("base.css"),
        script=_raw_asset("report.js"))


def render_diff(diff: Diff) -> str:
    """The diff as one HTML page: changed probes first, before and after side by side."""
    return _env().get_template("diff.html.j2").render(diff=diff, css=_raw_asset("base.css"))
