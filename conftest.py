"""Registers the autograd-conformance pytest plugin; all logic lives in src/autograd_conformance/."""

pytest_plugins = ["autograd_conformance.plugin"]
