"""Running a hypothesis property inside a probe: the probe observes whether the invariant held.

``check(obs, name, body, **strategies)`` runs ``body`` under ``hypothesis.given(**strategies)`` with the active
profile and records ``<name>.holds`` (compared with the table like any fact), ``<name>.examples`` and
``<name>.falsifying`` (the shrunk counterexample, for the reader; never compared).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings
from hypothesis.errors import HypothesisException

from .normalize import normalize_message

if TYPE_CHECKING:
    from .observe import Observation

PROFILES = {
    # derandomized so every run (and every xdist worker) draws the same examples
    "ci": dict(derandomize=True, deadline=None, max_examples=100, database=None, print_blob=False,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]),
    "dev": dict(deadline=None, max_examples=15,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]),
    "thorough": dict(deadline=None, max_examples=1000,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]),
}


#: Our profiles as settings objects of our own, never registered with hypothesis: a host project's profiles
#: (its own "ci", say) stay as they are, and importing torch.testing._internal (which registers a "dev"
#: profile and loads it) does not change what properties run with. ``--ac-hypothesis-profile`` chooses.
_OWN = {name: settings(**options) for name, options in PROFILES.items()}
_active = ("ci", _OWN["ci"])


def activate(name: str) -> None:
    """Choose the profile properties run with (one of PROFILES)."""
    global _active
    _active = (name, _OWN[name])


def active_profile() -> str:
    return _active[0]


def check(obs: "Observation", name: str, body: Callable[..., None], **strategies: Any) -> bool:
    """Run the property; record holds / examples / falsifying under ``name``; return whether it held."""
    count = 0

    @functools.wraps(body)
    def counted(**kwargs: Any) -> None:
        nonlocal count
        count += 1
        body(**kwargs)

    try:
        settings(parent=_active[1])(given(**strategies)(counted))()
        falsifying = None
    except HypothesisException:
        raise  # a broken strategy or setting is the probe's own error, not a counterexample
    except Exception as exc:  # the property's own assertion, or torch raising where it should not
        notes = [n for n in getattr(exc, "__notes__", []) if not n.startswith("You can add @seed")]
        falsifying = normalize_message("\n".join([*notes, f"{type(exc).__name__}: {exc}"]))
    obs.fact(f"{name}.holds", falsifying is None)
    obs.fact(f"{name}.examples", count)
    obs.fact(f"{name}.falsifying", falsifying)
    return falsifying is None
