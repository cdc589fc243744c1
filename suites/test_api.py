"""The autograd API surface: the public names each autograd module declares, and the autograd attributes of a
tensor and of a graph node — a name appearing or disappearing between releases is a behaviour change."""

import importlib
import re

import pytest
import torch

MODULES = ["torch.autograd", "torch.autograd.graph", "torch.autograd.forward_ad", "torch.autograd.function",
           "torch.autograd.functional", "torch.func", "torch.utils.checkpoint"]

#: Tensor attributes that belong to autograd (public names, and the private ones users rely on).
TENSOR_AUTOGRAD = re.compile(r"grad|backward|leaf|hook|version|detach|retain|requires|inference|dual|output_nr|"
                             r"^_base$|^_is_view$|^data$")


def public_names(module):
    """The names a module declares public (its __all__; without one, its public attributes)."""
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return sorted(set(declared)), "__all__"
    return sorted(n for n in dir(module) if not n.startswith("_")), "dir"


@pytest.mark.parametrize("name", MODULES)
def test_module_public_names(obs, name):
    """The sorted public names of an autograd module (its __all__)."""
    names, source = public_names(importlib.import_module(name))
    obs.fact("api.value", names)
    obs.fact("source.value", source)


def test_tensor_autograd_attributes(obs):
    """The autograd attributes of torch.Tensor: public names about grads, hooks, leaves, versions and views."""
    obs.fact("tensor.value", sorted(n for n in dir(torch.Tensor)
                                    if not n.startswith("__") and (not n.startswith("_") or n in ("_base", "_is_view",
                                                                                                  "_version"))
                                    and TENSOR_AUTOGRAD.search(n)))


def test_graph_node_attributes(obs, device):
    """The public attributes of a graph node (a grad_fn)."""
    y = torch.ones(2, device=device, requires_grad=True) * 2
    obs.fact("node.value", sorted(n for n in dir(y.grad_fn) if not n.startswith("_")))
    obs.fact("node_class.value", sorted(n for n in dir(torch.autograd.graph.Node) if not n.startswith("_"))
             if hasattr(torch.autograd.graph, "Node") else "None")
