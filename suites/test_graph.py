"""Graph structure: grad_fn classes of common ops and layers, next_functions, AccumulateGrad, saved attributes, graph API."""

import pytest
import torch
import torch.nn.functional as F

from autograd_conformance.observe import require


def _x(device, *shape):
    torch.manual_seed(0)
    return torch.randn(*shape, device=device, requires_grad=True)


def _linear(device, *shape):
    w = torch.randn(3, 4, device=device, requires_grad=True)
    b = torch.randn(3, device=device, requires_grad=True)
    return F.linear(_x(device, *shape), w, b)


GRAD_FN_CASES = [
    pytest.param(lambda d: _x(d, 2, 3) + 1, id="add"),
    pytest.param(lambda d: _x(d, 2, 3) * _x(d, 2, 3), id="mul"),
    pytest.param(lambda d: _x(d, 2, 3) @ _x(d, 3, 2), id="matmul-2d"),
    pytest.param(lambda d: _x(d, 3) @ _x(d, 3), id="matmul-1d"),
    pytest.param(lambda d: torch.mm(_x(d, 2, 3), _x(d, 3, 2)), id="mm"),
    pytest.param(lambda d: torch.bmm(_x(d, 2, 2, 3), _x(d, 2, 3, 2)), id="bmm"),
    pytest.param(lambda d: torch.addmm(_x(d, 2), _x(d, 2, 3), _x(d, 3, 2)), id="addmm"),
    pytest.param(lambda d: _x(d, 2, 3).sum(), id="sum"),
    pytest.param(lambda d: _x(d, 2, 3).sum(dim=1), id="sum-dim"),
    pytest.param(lambda d: _x(d, 2, 3).mean(), id="mean"),
    pytest.param(lambda d: _x(d, 2, 3).view(6), id="view"),
    pytest.param(lambda d: _x(d, 2, 3).reshape(3, 2), id="reshape"),
    pytest.param(lambda d: _x(d, 2, 3).t().reshape(6), id="reshape-non-contiguous"),
    pytest.param(lambda d: _x(d, 1, 3).expand(2, 3), id="expand"),
    pytest.param(lambda d: _x(d, 2, 3).permute(1, 0), id="permute"),
    pytest.param(lambda d: _x(d, 2, 3).transpose(0, 1), id="transpose"),
    pytest.param(lambda d: _x(d, 2, 3).unsqueeze(0), id="unsqueeze"),
    pytest.param(lambda d: _x(d, 1, 3).squeeze(0), id="squeeze"),
    pytest.param(lambda d: _x(d, 2, 3)[0], id="index-int"),
    pytest.param(lambda d: _x(d, 2, 3)[:, 1:], id="index-slice"),
    pytest.param(lambda d: _x(d, 2, 3)[torch.tensor([1, 0], device=d)], id="index-tensor"),
    pytest.param(lambda d: _x(d, 2, 3)[_x(d, 2, 3) > 0], id="index-mask"),
    pytest.param(lambda d: torch.cat([_x(d, 2), _x(d, 2)]), id="cat"),
    pytest.param(lambda d: torch.stack([_x(d, 2), _x(d, 2)]), id="stack"),
    pytest.param(lambda d: torch.where(_x(d, 3) > 0, _x(d, 3), 0.0), id="where"),
    pytest.param(lambda d: _x(d, 3).clamp(-0.5, 0.5), id="clamp"),
    pytest.param(lambda d: F.relu(_x(d, 3)), id="relu"),
    pytest.param(lambda d: F.gelu(_x(d, 3)), id="gelu"),
    pytest.param(lambda d: torch.sigmoid(_x(d, 3)), id="sigmoid"),
    pytest.param(lambda d: F.softmax(_x(d, 2, 3), dim=1), id="softmax"),
    pytest.param(lambda d: F.log_softmax(_x(d, 2, 3), dim=1), id="log_softmax"),
    pytest.param(lambda d: F.mse_loss(_x(d, 3), torch.zeros(3, device=d)), id="mse_loss"),
    pytest.param(lambda d: F.cross_entropy(_x(d, 2, 3), torch.tensor([0, 2], device=d)), id="cross_entropy"),
    pytest.param(lambda d: F.nll_loss(_x(d, 2, 3), torch.tensor([0, 2], device=d)), id="nll_loss"),
    pytest.param(lambda d: F.layer_norm(_x(d, 2, 3), (3,)), id="layer_norm"),
    pytest.param(lambda d: F.batch_norm(_x(d, 4, 3), None, None, training=True), id="batch_norm-train"),
    pytest.param(lambda d: _linear(d, 4), id="linear-1d"),
    pytest.param(lambda d: _linear(d, 2, 4), id="linear-2d"),
    pytest.param(lambda d: _linear(d, 2, 5, 4), id="linear-3d"),
    pytest.param(lambda d: F.linear(_x(d, 2, 4), _x(d, 3, 4)), id="linear-no-bias"),
    pytest.param(lambda d: F.conv2d(_x(d, 1, 1, 4, 4), _x(d, 2, 1, 3, 3)), id="conv2d"),
    pytest.param(lambda d: F.max_pool2d(_x(d, 1, 1, 4, 4), 2), id="max_pool2d"),
    pytest.param(lambda d: F.embedding(torch.tensor([0, 2], device=d), _x(d, 3, 4)), id="embedding"),
    pytest.param(lambda d: F.dropout(_x(d, 4), p=0.5, training=True), id="dropout-train"),
    pytest.param(lambda d: F.dropout(_x(d, 4), p=0.5, training=False), id="dropout-eval"),
    pytest.param(lambda d: F.scaled_dot_product_attention(_x(d, 2, 3, 4), _x(d, 2, 3, 4), _x(d, 2, 3, 4)),
                 id="sdpa-3d"),
    pytest.param(lambda d: F.scaled_dot_product_attention(_x(d, 1, 2, 3, 4), _x(d, 1, 2, 3, 4), _x(d, 1, 2, 3, 4)),
                 id="sdpa-4d"),
]


@pytest.mark.parametrize("make", GRAD_FN_CASES)
def test_grad_fn_class(obs, device, make):
    """The output's grad_fn class name and grad_fn.name() for a common op or layer."""
    y = make(device)
    obs.facts_of("y", y, "grad_fn", "is_leaf")
    obs.fact("y.grad_fn.name", y.grad_fn.name() if y.grad_fn is not None else None)


def _chain(fn, depth):
    names = []
    while fn is not None and depth:
        names.append(type(fn).__name__)
        fn = fn.next_functions[0][0] if fn.next_functions else None
        depth -= 1
    return names


def test_next_functions_chain(obs, device):
    """Following next_functions[0] from (x*2+1).exp().sum() walks the ops back to AccumulateGrad."""
    x = torch.ones(3, device=device, requires_grad=True)
    y = ((x * 2 + 1).exp()).sum()
    obs.fact("chain.calls", _chain(y.grad_fn, 6))


def test_sdpa_3d_backward_path(obs, device):
    """The backward chain of scaled_dot_product_attention on 3-D inputs (which kernel the autograd graph routes through)."""
    q = _x(device, 2, 3, 4)
    y = F.scaled_dot_product_attention(q, q, q)
    obs.fact("chain.calls", _chain(y.grad_fn, 4))


def test_next_functions_entries(obs, device):
    """next_functions of a binary op with one plain input holds (None, 0) for it."""
    x = torch.ones(3, device=device, requires_grad=True)
    y = x * torch.ones(3, device=device)
    obs.fact("next.calls", [["None" if f is None else type(f).__name__, i] for f, i in y.grad_fn.next_functions])


def test_accumulate_grad_node(obs, device):
    """The leaf's node is AccumulateGrad, its .variable is the leaf itself, and it has no next functions."""
    x = torch.ones(3, device=device, requires_grad=True)
    node = (x * 2).grad_fn.next_functions[0][0]
    obs.fact("node.name", type(node).__name__)
    obs.fact("variable.same", node.variable is x)
    obs.fact("node_next.count", len(node.next_functions))


def test_accumulate_grad_node_is_shared(obs, device):
    """Two ops on one leaf reach the same AccumulateGrad node object."""
    x = torch.ones(3, device=device, requires_grad=True)
    a = (x * 2).grad_fn.next_functions[0][0]
    b = (x + 1).grad_fn.next_functions[0][0]
    obs.fact("node.same", a is b)


SAVED = [
    pytest.param(lambda x: x * x, id="mul"),
    pytest.param(lambda x: x.pow(3), id="pow"),
    pytest.param(lambda x: x.exp(), id="exp"),
    pytest.param(lambda x: x.sum(), id="sum"),
    pytest.param(lambda x: x.sigmoid(), id="sigmoid"),
]


@pytest.mark.parametrize("op", SAVED)
def test_saved_attributes(obs, device, op):
    """The _saved_* attributes a node exposes (names) and, for tensors, whether they are the input or output."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = op(x)
    names = sorted(n for n in dir(y.grad_fn) if n.startswith("_saved_"))
    obs.fact("saved.calls", names)
    kinds = {}
    for n in names:
        value = getattr(y.grad_fn, n)
        if isinstance(value, torch.Tensor):
            kinds[n] = "input" if value.equal(x) else "output" if value.equal(y) else "tensor"
        else:
            kinds[n] = value if isinstance(value, (int, float, bool, str)) else list(value)
    obs.fact("saved.value", kinds)


def test_saved_attribute_after_backward(obs, device):
    """Reading a saved tensor attribute after backward freed the graph raises."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * x
    y.sum().backward()
    obs.outcome("read", lambda: y.grad_fn._saved_self)


def test_node_metadata(obs, device):
    """grad_fn.metadata is a per-node dict that starts empty and keeps what is stored in it."""
    y = torch.ones(2, device=device, requires_grad=True) * 2
    first = dict(y.grad_fn.metadata)
    y.grad_fn.metadata["tag"] = "mine"
    obs.fact("initial.value", first)
    obs.fact("after.value", dict(y.grad_fn.metadata))
    obs.fact("is_node.same", isinstance(y.grad_fn, torch.autograd.graph.Node))


def test_node_hooks(obs, device):
    """Node.register_prehook sees grad_outputs, Node.register_hook sees grad_inputs and grad_outputs."""
    x = torch.ones(2, device=device, requires_grad=True)
    y = x * 3
    calls = []
    y.grad_fn.register_prehook(lambda go: calls.append(["prehook", [g.tolist() for g in go]]))
    y.grad_fn.register_hook(lambda gi, go: calls.append(["hook", [g.tolist() for g in gi if g is not None],
                                                           [g.tolist() for g in go]]))
    y.sum().backward()
    obs.fact("hooks.calls", calls)


def test_multi_grad_hook(obs, device):
    """register_multi_grad_hook fires once with the gradients of all tensors (None for those unused)."""
    a = torch.ones(2, device=device, requires_grad=True)
    b = torch.ones(2, device=device, requires_grad=True)
    calls = []
    torch.autograd.graph.register_multi_grad_hook(
        (a, b), lambda grads: calls.append(["None" if g is None else g.tolist() for g in grads]))
    (a * 2).sum().backward()
    obs.fact("hook.calls", calls)


def test_gradient_edge(obs, device):
    """get_gradient_edge gives the (node, index) edge that autograd.grad accepts as an input."""
    get_gradient_edge = require("torch.autograd.graph.get_gradient_edge")
    x = torch.ones(2, device=device, requires_grad=True)
    y = x * 2
    edge = get_gradient_edge(y)
    obs.fact("edge.name", type(edge.node).__name__)
    (g,) = torch.autograd.grad((y * y).sum(), edge)
    obs.tensor("grad", g)


GRAPH_API = [
    "Node", "GradientEdge", "get_gradient_edge", "increment_version", "saved_tensors_hooks", "save_on_cpu",
    "disable_saved_tensors_hooks", "register_multi_grad_hook", "allow_mutation_on_saved_tensors",
    "set_warn_on_accumulate_grad_stream_mismatch", "set_multithreading_enabled",
]


@pytest.mark.parametrize("name", GRAPH_API)
def test_graph_api_present(obs, name):
    """Which torch.autograd.graph names exist (an API appearing or disappearing is a behaviour change)."""
    obs.fact("api.present", hasattr(torch.autograd.graph, name))


def _address_free(text):
    import re

    return re.sub(r"0x[0-9a-fA-F]+", "0x<address>", text)


@pytest.mark.parametrize("make", [
    pytest.param(lambda d: torch.ones(2, device=d, requires_grad=True), id="leaf-requiring-grad"),
    pytest.param(lambda d: torch.ones(2, device=d, requires_grad=True) * 2, id="mul-output"),
    pytest.param(lambda d: (torch.ones(2, device=d, requires_grad=True) * 2).sum(), id="sum-output"),
    pytest.param(lambda d: torch.ones(2, device=d, requires_grad=True)[0], id="select-view"),
    pytest.param(lambda d: torch.ones(2, device=d, requires_grad=True).detach(), id="detached"),
])
def test_tensor_repr(obs, device, make):
    """repr() of a tensor shows requires_grad=True for a leaf and grad_fn=<Node> for a non-leaf."""
    t = make(device)
    obs.fact("repr.value", _address_free(repr(t)).replace(f", device='{device}'", ""))


def test_node_repr(obs, device):
    """repr() and name() of a grad_fn node, of its next functions and of AccumulateGrad."""
    x = torch.ones(2, device=device, requires_grad=True)
    node = (x * 2).sum().grad_fn
    obs.fact("node_repr.value", _address_free(repr(node)))
    obs.fact("node_name.value", node.name())
    nxt = node.next_functions[0][0]
    obs.fact("next_repr.value", _address_free(repr(nxt)))
    obs.fact("accumulate_grad_repr.value", _address_free(repr(nxt.next_functions[0][0])))
