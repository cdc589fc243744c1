"""autograd-conformance: probes of PyTorch autograd behaviour, a version-aware expectations table, and reports."""

__version__ = "0.1.0"
