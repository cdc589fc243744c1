"""A pytest plugin for self-tests: runs the collected items in another order (load with -p tests.reorder).

``AC_TEST_ORDER=reverse`` reverses them; ``AC_TEST_ORDER=shuffle:SEED`` shuffles them with that seed.
"""

import os
import random


def pytest_collection_modifyitems(items):
    order = os.environ.get("AC_TEST_ORDER", "reverse")
    if order == "reverse":
        items.reverse()
    elif order.startswith("shuffle:"):
        random.Random(int(order.partition(":")[2])).shuffle(items)
    else:
        raise ValueError(f"AC_TEST_ORDER={order!r}: use reverse or shuffle:SEED")
