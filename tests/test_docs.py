"""The README's generated parts stay in step with the code, and it reads right from the package page."""

import re
from pathlib import Path

from autograd_conformance.facts import vocabulary_markdown
from autograd_conformance.options import options_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_lists_the_fact_vocabulary_as_generated():
    assert vocabulary_markdown() in README, (
        "README's facts table is out of date: paste the output of "
        "`python -c 'from autograd_conformance.facts import vocabulary_markdown as v; print(v())'`")


def test_readme_lists_the_options_as_generated():
    assert options_markdown() in README, (
        "README's options table is out of date: paste the output of "
        "`python -c 'from autograd_conformance.options import options_markdown as m; print(m())'`")


def test_readme_lists_every_family():
    families = sorted(p.stem.removeprefix("test_") for p in (ROOT / "suites").glob("test_*.py"))
    assert families, "no probe modules found"
    missing = [f for f in families if f"| `{f}` | `suites/test_{f}.py` |" not in README]
    assert not missing, f"README's family list lacks: {missing}"


def test_every_family_has_a_table_file():
    modules = {p.stem.removeprefix("test_") for p in (ROOT / "suites").glob("test_*.py")}
    tables = {p.stem for p in (ROOT / "suites" / "expectations").glob("*.toml") if not p.name.startswith("_")}
    assert modules == tables


def test_the_probe_writing_guide_is_in_the_readme_as_shipped():
    """suites/README.md ships in the wheel; the README (the package page) carries the same text."""
    guide = (ROOT / "suites" / "README.md").read_text()
    inside = re.search(r"<!-- guide:.*?-->\n(.*?)<!-- /guide -->", README, re.S).group(1)
    assert inside == guide, "README's 'Writing probes' section differs from suites/README.md: copy it over"


def test_readme_links_work_from_the_package_page():
    """On the package index relative links break: every link is absolute or an anchor of the README itself."""
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    anchors = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", README, re.M)}
    relative = [link for link in links if not link.startswith(("http://", "https://", "#"))]
    assert not relative, f"relative links: {relative}"
    dangling = [link for link in links if link.startswith("#") and link[1:] not in anchors]
    assert not dangling, f"anchors with no heading: {dangling}"


def test_the_example_workflow_is_the_one_the_package_writes():
    shipped = ROOT / "src" / "autograd_conformance" / "templates" / "conformance-workflow.yml"
    assert shipped.read_text() == (ROOT / ".github" / "workflows" / "conformance.yml").read_text()


def test_the_example_workflow_uses_only_the_installed_package():
    text = (ROOT / ".github" / "workflows" / "conformance.yml").read_text()
    assert "autograd-conformance run" in text and "pip install" in text
    assert not re.search(r"\btox\b|suites/", text), "the example must not need this repository"
    # the only editable install is the team's own project, where it has one
    assert re.findall(r"pip install -e (\S+)", text) == ["."] and "if [ -f pyproject.toml ]" in text


def test_readme_layout_is_the_package_docstrings():
    from tests.layout import layout_markdown

    inside = re.search(r"<!-- layout:.*?-->\n(.*?)\n<!-- /layout -->", README, re.S).group(1)
    assert inside == layout_markdown(), "README's Layout section is out of date: paste `python tests/layout.py`"


def test_the_maintainers_guide_names_only_modules_that_exist():
    from tests.layout import MODULES

    guide = (ROOT / "src" / "autograd_conformance" / "README.md").read_text()
    named = set(re.findall(r"`(\w+)\.py`", guide)) - {"__init__"}
    assert named and not named - MODULES, f"the guide names modules that do not exist: {sorted(named - MODULES)}"


def test_readme_says_whether_it_is_safe_to_compile_as_the_table_does():
    from autograd_conformance.changelog import compile_safety
    from autograd_conformance.expectations import Table

    section = re.search(r"<!-- compile-safety: [^>]*-->\n(.*?)<!-- /compile-safety -->", README, re.S)
    assert section, "README lacks the generated 'Is it safe to compile?' section"
    assert section.group(1) == compile_safety(Table.load(ROOT / "suites" / "expectations", "0")), (
        "README's 'Is it safe to compile?' is out of date: paste `autograd-conformance changelog --compile-safety`")


def test_every_compile_block_of_the_bundled_table_states_its_hazard():
    """A compile block that differs from eager states its hazard class; one without a class (a backend's block
    that brings compile mode back to eager's behaviour) states no difference from eager."""
    from autograd_conformance import modes
    from autograd_conformance.expectations import Table
    from autograd_conformance.tablefile import ABSENT

    table = Table.load(ROOT / "suites" / "expectations", "0")
    recorded = table.releases.mode_recorded["compile"]
    unstated = []
    for entry in table.entries:
        for block in (b for b in entry.when if b.mode and not b.hazard):
            release = next(str(v) for v in recorded if block.torch is None or block.torch.contains(v))
            eager = table.resolve(entry.key, "cpu", release)
            if modes.hazard_of(eager.facts if eager else {}, block.facts, ABSENT) is not None:
                unstated.append(block.describe())
    assert not unstated, f"compile blocks that differ from eager without a hazard class: {unstated[:5]}"
