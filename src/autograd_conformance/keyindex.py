"""Table keys and the index that finds the keys matching a probe id: exact ids by lookup, patterns (``*`` and
``?``) only among those whose literal head the id starts with."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Generic, TypeVar


def is_pattern(key: str) -> bool:
    return "*" in key or "?" in key


def _chars(text: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


@lru_cache(maxsize=None)
def pattern_regex(key: str) -> re.Pattern[str]:
    """The regex of a key pattern: ``*`` any text, ``?`` one character, everything else literal; except that a
    ``*`` that is a whole parameter among several (``[*-leaf]``, the key record mode writes for every device)
    stands for one parameter, so ``[*-leaf]`` does not also match ``[cpu-non-leaf]``."""
    head, sep, params = key.partition("[")
    if not sep or not key.endswith("]") or "-" not in params:
        return re.compile(_chars(key) + r"\Z")
    parts = params[:-1].split("-")
    return re.compile(_chars(head) + re.escape("[") + "-".join("[^-]+" if p == "*" else _chars(p) for p in parts)
                      + re.escape("]") + r"\Z")


def key_matches(key: str, probe_id: str) -> bool:
    """Whether a table key (an exact id or a pattern) names ``probe_id``."""
    return pattern_regex(key).match(probe_id) is not None if is_pattern(key) else key == probe_id


def head(key: str) -> str:
    """A pattern's literal head: up to the first wildcard, cut back to its family/function (before '[')."""
    cut = min((i for i in (key.find("*"), key.find("?")) if i >= 0), default=len(key))
    literal = key[:cut]
    bracket = literal.find("[")
    return literal[:bracket] if bracket >= 0 else literal


def heads(probe_id: str) -> list[str]:
    """Every head a pattern matching ``probe_id`` can have: each prefix that ends before '[' or at the end."""
    base = probe_id.split("[", 1)[0]
    return [base[:i] for i in range(len(base) + 1)]


T = TypeVar("T")


class KeyIndex(Generic[T]):
    """Items (table entries) by key: exact keys in a dict, patterns by their literal head, so a probe id is only
    tried against the patterns that can match it."""

    def __init__(self, items: Iterable[T], key_of: Callable[[T], str]) -> None:
        self._key_of = key_of
        self._exact: dict[str, list[T]] = {}
        self._patterns: dict[str, list[T]] = {}
        for item in items:
            key = key_of(item)
            if is_pattern(key):
                self._patterns.setdefault(head(key), []).append(item)
            else:
                self._exact.setdefault(key, []).append(item)

    def matching(self, probe_id: str) -> Iterator[T]:
        """The items whose key names ``probe_id``: patterns first, then exact keys."""
        for h in heads(probe_id):
            for item in self._patterns.get(h, ()):
                if key_matches(self._key_of(item), probe_id):
                    yield item
        yield from self._exact.get(probe_id, ())


def used_by(key: str, probe_ids: set[str], by_base: dict[str, list[str]]) -> bool:
    """Whether a key names any of ``probe_ids`` (``by_base`` groups them by the part before '[')."""
    if not is_pattern(key):
        return key in probe_ids
    h = head(key)  # only ids whose function part starts with the pattern's head can match
    return any(key_matches(key, p) for base, ids in by_base.items() if base.startswith(h) for p in ids)
