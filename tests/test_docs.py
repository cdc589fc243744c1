"""The README's generated parts stay in step with the code."""

from pathlib import Path

from autograd_conformance.facts import vocabulary_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_readme_lists_the_fact_vocabulary_as_generated():
    assert vocabulary_markdown() in (ROOT / "README.md").read_text(), (
        "README's facts table is out of date: paste the output of "
        "`python -c 'from autograd_conformance.facts import vocabulary_markdown as v; print(v())'`")


def test_readme_lists_every_family():
    readme = (ROOT / "README.md").read_text()
    families = sorted(p.stem.removeprefix("test_") for p in (ROOT / "suites").glob("test_*.py"))
    assert families, "no probe modules found"
    missing = [f for f in families if f"| `{f}` | `suites/test_{f}.py` |" not in readme]
    assert not missing, f"README's family list lacks: {missing}"


def test_every_family_has_a_table_file():
    modules = {p.stem.removeprefix("test_") for p in (ROOT / "suites").glob("test_*.py")}
    tables = {p.stem for p in (ROOT / "suites" / "expectations").glob("*.toml")}
    assert modules == tables
