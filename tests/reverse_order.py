"""A pytest plugin for self-tests: runs the collected items in reverse order (load with -p tests.reverse_order)."""


def pytest_collection_modifyitems(items):
    items.reverse()
