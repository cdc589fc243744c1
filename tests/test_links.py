"""The table's links: registered once with what they are, checked against the blocks that cite them and against
PyTorch's history (a small git repository with PyTorch's commit and tag conventions stands in for a clone)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from autograd_conformance.changelog import build
from autograd_conformance.cli import main
from autograd_conformance.expectations import Table
from autograd_conformance.links import check_history, kind_of_url, problems
from autograd_conformance.probes import default_table
from autograd_conformance.tablefile import TableError

PR = "https://github.com/pytorch/pytorch/pull/"

TABLE = f'''
["fam/test_grad[*-clamp]"]
"x.is_leaf" = false

[["fam/test_grad[*-clamp]".when]]
torch = ">2.13.0"
reason = "2.14 aligned clamp subgradients"
link = "{PR}5"
"x.is_leaf" = true

["fam/test_grad[*-relu]"]
"x.is_leaf" = false

[["fam/test_grad[*-relu]".when]]
torch = ">2.13.0,<2.15.0"
reason = "relu differed in 2.14 only: 2.14 changed it, 2.15 put it back"
link = "{PR}6"
"x.is_leaf" = true
'''

LINKS = f'''
["{PR}5"]
kind = "pr"
title = "Align clamp and min/max subgradients"
shipped = "2.14"
touches = ["clamp", "clamp_min"]

["{PR}6"]
kind = "pr"
title = "Revert relu's subgradient change"
shipped = "2.15"
touches = ["relu"]
'''


@pytest.fixture
def table_dir(tmp_path):
    (tmp_path / "fam.toml").write_text(TABLE)
    (tmp_path / "_links.toml").write_text(LINKS)
    (tmp_path / "_releases.toml").write_text('described = ["2.13.0", "2.14.1", "2.15.0"]\n')
    return tmp_path


def test_the_bundled_tables_links_are_registered_and_fit_their_blocks():
    table = Table.load(default_table(), "0")
    assert problems(table) == []
    cited = {b.link for e in table.entries for b in (e.base, *e.when) if b.link}
    assert cited == set(table.links)  # every cited link registered, and nothing registered that no block cites


def test_links_are_classified_by_their_form():
    assert kind_of_url(PR + "191142") == "pr"
    assert kind_of_url("https://github.com/pytorch/pytorch/issues/117582") == "issue"
    assert kind_of_url("https://dev-discuss.pytorch.org/t/some-topic/123") == "discussion"
    assert kind_of_url("https://example.org/x") is None


def test_a_link_cited_where_it_does_not_belong_is_named(table_dir):
    assert problems(Table.load(table_dir, "2.15.0")) == []
    (table_dir / "fam.toml").write_text(TABLE.replace(f'link = "{PR}6"', f'link = "{PR}5"')
                                        + f'\n["fam/test_other"]\n"x.is_leaf" = false\n\n[["fam/test_other".when]]\n'
                                          f'torch = "<2.14"\nreason = "r"\nlink = "{PR}7"\n"x.is_leaf" = true\n')
    found = [p.split(": ", 1)[1] for p in problems(Table.load(table_dir, "2.15.0"))]
    assert found == ["PR #5 touches clamp, clamp_min, none of which fam/test_grad[*-relu] names",
                     f"link {PR}7 is not registered in _links.toml"]


def test_a_pr_that_shipped_at_neither_boundary_of_its_block_is_named(table_dir):
    (table_dir / "_links.toml").write_text(LINKS.replace('shipped = "2.14"', 'shipped = "2.12"'))
    (found,) = problems(Table.load(table_dir, "2.15.0"))
    assert found.endswith("PR #5 shipped in 2.12, but the block changes at 2.14.1")


@pytest.mark.parametrize("entry, message", [
    ('kind = "pr"\ntitle = "t"\nshipped = "2.14"\n', "touches: a PR lists the ops or APIs it changes"),
    ('kind = "issue"\ntitle = "t"\n', "kind = 'issue' but the URL is pr"),
    ('kind = "pr"\ntitle = "t"\nshipped = "soon"\ntouches = ["x"]\n', "shipped = 'soon' is not a torch version"),
    ('kind = "pr"\ntitle = "t"\ntouches = ["x"]\n', "shipped: the release that first shipped the PR"),
    ('kind = "pull"\ntitle = "t"\n', "kind = 'pull': use one of pr, issue, discussion"),
    ('kind = "pr"\ntitle = "t"\nshipped = "2.1"\ntouches = ["x"]\nowner = "me"\n', "unknown key(s) owner"),
])
def test_a_bad_registry_entry_names_the_file_and_link(table_dir, entry, message):
    (table_dir / "_links.toml").write_text(f'["{PR}5"]\n{entry}')
    with pytest.raises(TableError, match=f"_links.toml: \\[{PR}5\\]: .*{message}".replace("(", "\\(").replace(
            ")", "\\)").replace("'", "'")):
        Table.load(table_dir, "2.15.0")


def test_the_changelog_gives_a_link_only_to_the_boundary_it_shipped_at(table_dir):
    causes = build(Table.load(table_dir, "2.15.0")).causes()
    at_14 = {c.link for c in causes[("2.13.0", "2.14.1")]}
    at_15 = {c.link for c in causes[("2.14.1", "2.15.0")]}
    assert at_14 == {PR + "5", None}  # relu's 2.14 change is not PR #6's (it shipped in 2.15): it stands on its reason
    assert at_15 == {PR + "6"}
    (cause,) = causes[("2.14.1", "2.15.0")]
    assert cause.title == "PR #6: Revert relu's subgradient change" and cause.about.shipped.release == (2, 15)


def _git(repo, *args, **env):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a",
                        "GIT_COMMITTER_EMAIL": "a@b", "HOME": str(repo), "PATH": "/usr/bin:/bin", **env})


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_check_links_against_pytorchs_history(table_dir, tmp_path, capsys):
    """PR 5 lands before the v2.14.0 tag and names clamp; PR 6 lands after it (first tagged v2.15.0) and its diff
    never says relu: the history check says so, and a PR with no commit is named too."""
    repo = tmp_path / "pytorch"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    for number, text in ((1, "base"), (5, "def clamp_backward(): pass"), (6, "def other(): pass")):
        (repo / "f.py").write_text(text + "\n")
        _git(repo, "add", "f.py")
        _git(repo, "commit", "-q", "-m", f"change {number}\n\nPull Request resolved: {PR}{number}")
        if number == 5:
            _git(repo, "tag", "v2.14.0")
    _git(repo, "tag", "v2.15.0")
    table = Table.load(table_dir, "2.15.0")
    findings = {f.link.url: f for f in check_history(table.links.values(), repo)}
    assert findings[PR + "5"].problems == [] and str(findings[PR + "5"].shipped) == "2.14.0"
    assert findings[PR + "6"].problems == ["PR #6: neither its title nor its diff names relu"]
    (table_dir / "_links.toml").write_text(LINKS.replace('shipped = "2.15"', 'shipped = "2.14"')
                                           + f'\n["{PR}7"]\nkind = "pr"\ntitle = "t"\nshipped = "2.14"\ntouches = ["x"]\n')
    assert main(["changelog", "--expectations", str(table_dir), "--check-links", "--pytorch", str(repo)]) == 1
    out = capsys.readouterr().out
    assert "PR #6: registered as shipped in 2.14, first tagged in 2.15.0" in out
    assert f"PR #7: no commit says 'Pull Request resolved: {PR}7'" in out
    assert out.strip().splitlines()[-1].startswith("links: 2 cited by the table, 3 registered (3 PRs, each checked")
