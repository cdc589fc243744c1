"""torch's OpInfo database (``torch.testing._internal``), imported without side effects on the host.

Importing ``common_utils`` registers hypothesis profiles of torch's own ("dev", "debug", "pytorch_ci") and
loads one: a project that runs the suite next to its own hypothesis tests would find its profile replaced.
``load()`` imports the database and puts hypothesis' profiles back as they were.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

#: The profiles torch's test utilities register when imported.
TORCH_PROFILES = ("dev", "debug", "pytorch_ci")


@contextlib.contextmanager
def hypothesis_profiles_kept() -> Iterator[None]:
    """Restore the current hypothesis profile, and the profiles of torch's names that existed, afterwards."""
    from hypothesis import settings
    from hypothesis.errors import InvalidArgument

    current = settings.get_current_profile_name()
    saved = {}
    for name in {current, *TORCH_PROFILES}:
        try:
            saved[name] = settings.get_profile(name)
        except InvalidArgument:
            pass
    try:
        yield
    finally:
        for name, profile in saved.items():
            settings.register_profile(name, profile)
        settings.load_profile(current)


def load() -> list[Any]:
    """The OpInfo database (``op_db``); raises whatever the private import raises where it is unavailable."""
    with hypothesis_profiles_kept():
        from torch.testing._internal.common_methods_invocations import op_db
    return op_db
