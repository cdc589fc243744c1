"""The table's links, registered once in ``_links.toml``: what each is (the PR that made a change, an issue, a
discussion), the release that first shipped a PR, and the names (ops, APIs) it touches. Checked against every
block that cites it (a PR must ship at one of the block's release boundaries and touch the block's op or API)
and, given a clone of PyTorch, against PyTorch's history (where the PR's commit first appears among the release
tags, and whether its title or diff names what the registry says it touches)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from .tablefile import TableError, load_file


class _Block(Protocol):
    """What the checks read of a table block (``expectations.Block``, a layer below this one's users)."""

    torch: SpecifierSet | None
    link: str | None

    def describe(self) -> str: ...

#: The file of a table directory that registers the links its blocks cite.
LINKS_FILE = "_links.toml"
PR, ISSUE, DISCUSSION = "pr", "issue", "discussion"
KINDS = (PR, ISSUE, DISCUSSION)
_WORDS = {PR: "PR", ISSUE: "issue", DISCUSSION: "discussion"}
_PR_URL = re.compile(r"^https://github\.com/pytorch/pytorch/pull/(\d+)$")


def kind_of_url(url: str) -> str | None:
    """What a URL is by its form: a PyTorch pull request, an issue, a discussion (forum or GitHub), or None."""
    if _PR_URL.match(url):
        return PR
    if re.match(r"^https://github\.com/[^/]+/[^/]+/issues/\d+$", url):
        return ISSUE
    if re.match(r"^https://(github\.com/[^/]+/[^/]+/discussions/\d+|(dev-)?discuss\.pytorch\.org/.+)$", url):
        return DISCUSSION
    return None


def label_of(url: str, kind: str | None = None) -> str:
    """A link as a reader sees it: ``PR #164751``, ``issue #130659`` (its kind by its form unless given), or the
    URL itself where it ends in no number."""
    number = url.rstrip("/").rsplit("/", 1)[-1]
    if not number.isdigit():
        return url
    return f"{_WORDS.get(kind or kind_of_url(url) or '', 'link')} #{number}"


@dataclass(frozen=True)
class Link:
    """One registered link: its kind, title, the release (minor) that first shipped a PR, and what it touches."""

    url: str
    kind: str
    title: str
    shipped: Version | None = None
    touches: tuple[str, ...] = ()
    #: Table keys (globs) the link may be cited on where its change is not named by op (an error-text change
    #: across nodes, an API used by many probes), as whoever checked the link found.
    applies: tuple[str, ...] = ()
    note: str | None = None

    @property
    def label(self) -> str:
        """``PR #164751``, ``issue #130659``: what the link is, as a reader sees it."""
        return label_of(self.url, self.kind)

    def ships_at(self, after: Version) -> bool:
        """Whether this link is the change of a boundary whose later release is ``after`` (an issue or a
        discussion is not tied to a release: it may stand at any boundary)."""
        return self.kind != PR or self.shipped is None or self.shipped.release[:2] == after.release[:2]

    def names(self, key: str) -> bool:
        """Whether a table key names one of the things this link touches (as a whole name: ``elu`` is not in
        ``selu``), or is one of the keys it was found to apply to."""
        return (any(re.search(rf"(?<![A-Za-z0-9]){re.escape(t)}(?![A-Za-z0-9])", key) for t in self.touches)
                or any(_glob(glob).fullmatch(key) for glob in self.applies))


def _glob(pattern: str) -> re.Pattern[str]:
    """An ``applies`` pattern: ``*`` matches anything, every other character (brackets too) is itself."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def load(directory: Path, label: str | None = None) -> dict[str, Link]:
    """The links a table directory registers (none when it has no ``_links.toml``); TableError names the file
    and the entry that is wrong."""
    path = Path(directory) / LINKS_FILE
    if not path.is_file():
        return {}
    label = label or str(path)
    out = {}
    for url, entry in load_file(path, label).items():
        out[url] = _link(label, url, entry)
    return out


def _link(label: str, url: str, entry: Any) -> Link:
    if not isinstance(entry, dict):
        raise TableError(label, url, "a link is a table: kind, title, shipped (a PR), touches")
    unknown = set(entry) - {"kind", "title", "shipped", "touches", "applies", "note"}
    if unknown:
        raise TableError(label, url, f"unknown key(s) {', '.join(sorted(unknown))} (known: kind, title, shipped, "
                                     f"touches, applies, note)")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise TableError(label, url, f"kind = {kind!r}: use one of {', '.join(KINDS)}")
    if kind_of_url(url) not in (kind, None) or (kind == PR and kind_of_url(url) != PR):
        raise TableError(label, url, f"kind = {kind!r} but the URL is {kind_of_url(url) or 'not a PyTorch PR'}")
    title = entry.get("title")
    if not isinstance(title, str) or not title.strip():
        raise TableError(label, url, "title: the link's title, as it stands on the page")
    shipped = entry.get("shipped")
    if kind == PR and not isinstance(shipped, str):
        raise TableError(label, url, "shipped: the release that first shipped the PR, e.g. \"2.14\"")
    try:
        version = Version(shipped) if isinstance(shipped, str) else None
    except InvalidVersion:
        raise TableError(label, url, f"shipped = {shipped!r} is not a torch version") from None
    touches = entry.get("touches", [])
    if not isinstance(touches, list) or not all(isinstance(t, str) and t for t in touches):
        raise TableError(label, url, "touches: the ops or APIs the change names, e.g. [\"clamp\", \"clamp_min\"]")
    if kind == PR and not touches:
        raise TableError(label, url, "touches: a PR lists the ops or APIs it changes")
    applies = entry.get("applies", [])
    if not isinstance(applies, list) or not all(isinstance(t, str) and t for t in applies):
        raise TableError(label, url, "applies: table keys (globs) the link is cited on, e.g. [\"anomaly/*\"]")
    note = entry.get("note")
    return Link(url, kind, title.strip(), version, tuple(touches), tuple(applies),
                note if isinstance(note, str) else None)


def boundaries(block: _Block, described: list[Version]) -> list[Version]:
    """The described releases at which a block starts or stops holding (the later release of each boundary)."""
    if block.torch is None:
        return []
    inside = [block.torch.contains(v, prereleases=True) for v in described]
    return [b for (a, b), (ia, ib) in zip(zip(described, described[1:]), zip(inside, inside[1:])) if ia != ib]


def problems(table: Any) -> list[str]:
    """Every link a block of the table (an ``expectations.Table``) cites that is not registered, or a registered
    PR that did not ship at one of the block's boundaries or does not touch the block's op or API, one line
    each."""
    out = []
    described = table.described
    for entry in table.entries:
        block: _Block
        for block in (entry.base, *entry.when):
            if block.link is None:
                continue
            where = block.describe()
            link = table.links.get(block.link)
            if link is None:
                out.append(f"{where}: link {block.link} is not registered in {LINKS_FILE}")
                continue
            if link.kind != PR:
                continue
            edges = boundaries(block, described)
            if edges and not any(link.ships_at(b) for b in edges):
                out.append(f"{where}: {link.label} shipped in {link.shipped}, but the block changes at "
                           f"{', '.join(str(b) for b in edges)}")
            if not link.names(entry.key):
                out.append(f"{where}: {link.label} touches {', '.join(link.touches)}, none of which {entry.key} names")
    return out


@dataclass(frozen=True)
class Finding:
    """What PyTorch's history says of one registered PR: its commit, the release that first shipped it, and
    which of the names it is said to touch its title and diff show."""

    link: Link
    commit: str | None
    shipped: Version | None
    seen: tuple[str, ...]

    @property
    def problems(self) -> list[str]:
        if self.commit is None:
            return [f"{self.link.label}: no commit says 'Pull Request resolved: {self.link.url}' (not merged, or "
                    f"landed under another number)"]
        out = []
        if self.shipped is None:
            out.append(f"{self.link.label}: commit {self.commit[:12]} is in no release tag yet")
        elif self.link.shipped is not None and self.shipped.release[:2] != self.link.shipped.release[:2]:
            out.append(f"{self.link.label}: registered as shipped in {self.link.shipped}, first tagged in "
                       f"{self.shipped}")
        missing = [t for t in self.link.touches if t not in self.seen]
        if missing and len(missing) == len(self.link.touches):
            out.append(f"{self.link.label}: neither its title nor its diff names {', '.join(missing)}")
        return out


def _git(clone: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(clone), *args], capture_output=True, text=True, errors="replace")
    if done.returncode != 0:
        raise TableError(str(clone), None, f"git {' '.join(args[:2])} failed: {done.stderr.strip()[:200]}")
    return done.stdout


def check_history(links: Iterable[Link], clone: Path) -> list[Finding]:
    """Each registered PR against a clone of PyTorch (its branches and release tags ``v2.N.0``): the commit that
    landed it, the first release tag that contains it, and the names its title and diff show."""
    clone = Path(clone)
    if not (clone / ".git").exists() and not (clone / "HEAD").exists():
        raise TableError(str(clone), None, "not a git clone of PyTorch")
    out = []
    for link in sorted(links, key=lambda k: k.url):
        if link.kind != PR:
            continue
        found = _git(clone, "log", "--all", "--format=%H", "--fixed-strings",
                     f"--grep=Pull Request resolved: {link.url}").split()
        if not found:
            out.append(Finding(link, None, None, ()))
            continue
        commit = found[-1]  # the oldest: a cherry-pick onto a release branch comes later
        tags = _git(clone, "tag", "--contains", commit, "--list", "v2.*").split()
        releases = sorted(Version(t[1:]) for t in tags if re.fullmatch(r"v\d+\.\d+\.\d+", t))
        shown = _git(clone, "show", "--format=%s%n%b", commit)
        seen = tuple(t for t in link.touches if re.search(rf"(?<![A-Za-z0-9]){re.escape(t)}(?![A-Za-z0-9])", shown))
        out.append(Finding(link, commit, releases[0] if releases else None, seen))
    return out
