"""Activation checkpointing: use_reentrant variants, equal gradients, no_grad inputs, RNG state."""

import pytest
import torch
from torch.utils.checkpoint import checkpoint, checkpoint_sequential


def _block(x):
    return (x.sin() * x).exp().sum(dim=-1)


def _input(device):
    return torch.tensor([[0.1, 0.2], [0.3, 0.4]], device=device, dtype=torch.float64, requires_grad=True)


def _plain_grad(device):
    x = _input(device)
    _block(x).sum().backward()
    return x.grad


REENTRANT = [
    pytest.param({"use_reentrant": True}, id="use_reentrant-True"),
    pytest.param({"use_reentrant": False}, id="use_reentrant-False"),
    pytest.param({}, id="use_reentrant-unset"),
]


@pytest.mark.parametrize("kwargs", REENTRANT)
def test_checkpoint_gradients_match(obs, device, kwargs):
    """Checkpointed gradients equal the plain ones; leaving use_reentrant unset warns or raises."""
    x = _input(device)
    out = obs.outcome("checkpoint", lambda: checkpoint(_block, x, **kwargs))
    if out is None:
        return
    obs.facts_of("out", out)
    out.sum().backward()
    obs.fact("grad_equal.same", torch.allclose(x.grad, _plain_grad(device)))


@pytest.mark.parametrize("kwargs", REENTRANT[:2])
def test_checkpoint_inputs_without_grad(obs, device, kwargs):
    """Checkpoint of inputs that do not require grad: whether the output requires grad, and the warning."""
    x = _input(device).detach()
    out = obs.outcome("checkpoint", lambda: checkpoint(_block, x, **kwargs))
    obs.facts_of("out", out, "requires_grad")


@pytest.mark.parametrize("kwargs", REENTRANT[:2])
def test_checkpoint_under_no_grad(obs, device, kwargs):
    """Checkpoint called under no_grad returns a result without grad."""
    x = _input(device)
    with torch.no_grad():
        out = obs.outcome("checkpoint", lambda: checkpoint(_block, x, **kwargs))
    obs.facts_of("out", out, "requires_grad")


@pytest.mark.parametrize("kwargs", REENTRANT[:2])
def test_checkpoint_with_dropout_preserves_rng(obs, device, kwargs):
    """With preserve_rng_state (the default) dropout replays identically, so gradients match the plain run."""
    def block(x):
        return torch.nn.functional.dropout(x, p=0.5, training=True).sum()

    x = _input(device)
    torch.manual_seed(1)
    checkpoint(block, x, **kwargs).backward()
    x2 = _input(device)
    torch.manual_seed(1)
    block(x2).backward()
    obs.fact("grad_equal.same", torch.equal(x.grad, x2.grad))


@pytest.mark.parametrize("kwargs", REENTRANT[:2])
def test_checkpoint_with_keyword_arguments(obs, device, kwargs):
    """Passing keyword arguments to the checkpointed function: allowed only without reentrancy."""
    x = _input(device)
    obs.outcome("checkpoint", lambda: checkpoint(lambda a, scale: _block(a) * scale, x, scale=2.0, **kwargs))


@pytest.mark.parametrize("kwargs", REENTRANT[:2])
def test_checkpoint_with_autograd_grad(obs, device, kwargs):
    """torch.autograd.grad through a checkpointed block: works without reentrancy, raises with it."""
    x = _input(device)
    out = checkpoint(_block, x, **kwargs).sum()
    grads = obs.outcome("grad", lambda: torch.autograd.grad(out, x))
    if grads is not None:
        obs.fact("grad_equal.same", torch.allclose(grads[0], _plain_grad(device)))


def test_checkpoint_sequential(obs, device):
    """checkpoint_sequential over 2 segments gives the plain gradients."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1)).double().to(device)
    x = _input(device)
    out = checkpoint_sequential(model, 2, x, use_reentrant=False)
    out.sum().backward()
    grad = x.grad.clone()
    x.grad = None
    model(x).sum().backward()
    obs.fact("grad_equal.same", torch.allclose(grad, x.grad))
