"""Activation checkpointing: use_reentrant variants, equal gradients, no_grad inputs, RNG state, non-reentrant
determinism checks, debug, context_fn and selective checkpointing, early stop, nesting and checkpoint_sequential."""

import contextlib
import functools
import inspect
import logging

import pytest
import torch
from torch.utils.checkpoint import checkpoint, checkpoint_sequential

from autograd_conformance.normalize import normalize_message
from autograd_conformance.observe import require, run_captured

pytestmark = pytest.mark.modes("eager", "compile")


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


# Non-reentrant checkpoint: determinism checks, debug, context_fn, early stop (keywords added in 2.1).
def _require_keyword(name):
    """Skip the probe on a torch whose checkpoint() lacks the keyword ``name`` (passing it would reach the function)."""
    if name not in inspect.signature(checkpoint).parameters:
        pytest.skip(f"torch.utils.checkpoint.checkpoint has no {name!r} keyword in torch {torch.__version__}")


def _saves_two(x):
    return x.sin().exp()


def _saves_three(x):
    return x.sin().exp().sin()


def _saves_two_broadcast(x):
    return x.sin() * torch.tensor([1.0, 2.0], device=x.device)


def _first_then(first, recompute):
    """A function that runs ``first`` on its first call and ``recompute`` on every later call (the recomputation)."""
    calls = []

    def fn(x):
        calls.append(x)
        return first(x) if len(calls) == 1 else recompute(x)

    return fn


def _one_element(device):
    return torch.tensor([0.5], device=device, requires_grad=True)


@contextlib.contextmanager
def _logging_tensor_logger_restored():
    """Put back the "LoggingTensor" logger that checkpoint's debug mode leaves non-propagating, at INFO, with extra
    filters: pytest attaches its capture handlers to non-propagating loggers in later tests, and those handlers
    cannot format that logger's records, so a later debug=True checkpoint would fail."""
    logger = logging.getLogger("LoggingTensor")
    propagate, level, filters = logger.propagate, logger.level, list(logger.filters)
    try:
        yield
    finally:
        logger.propagate = propagate
        logger.setLevel(level)
        logger.filters[:] = filters


def _debug_report(action):
    """Run ``action``; return (exception class name or None, the stable part of a debug=True checkpoint error).

    The debug report embeds C++ and Python stack traces (paths, line numbers); the operator log and the final
    section from "Operations executed during the original forward" on are kept."""
    try:
        action()
    except Exception as exc:  # a probe observes any exception torch raises
        text = str(exc)
        start = text.find("Operations executed during the original forward")
        return type(exc).__name__, normalize_message(text[start:] if start >= 0 else text)
    return None, None


def test_checkpoint_recompute_saves_fewer_tensors(obs, device):
    """A recomputation that saves fewer tensors than the forward makes backward raise the different-number error."""
    x = _one_element(device)
    out = checkpoint(_first_then(_saves_three, _saves_two), x, use_reentrant=False)
    obs.outcome("backward", lambda: out.sum().backward())


EARLY_STOP = [
    pytest.param("default", id="early-stop-default"),
    pytest.param("set_checkpoint_early_stop-False", id="set_checkpoint_early_stop-False"),
    pytest.param("early_stop-False", id="early_stop-keyword-False"),
]


def _checkpoint_with_early_stop(how, fn, x):
    if how == "set_checkpoint_early_stop-False":
        with require("torch.utils.checkpoint.set_checkpoint_early_stop")(False):
            return checkpoint(fn, x, use_reentrant=False)
    if how == "early_stop-False":
        _require_keyword("early_stop")
        return checkpoint(fn, x, use_reentrant=False, early_stop=False)
    return checkpoint(fn, x, use_reentrant=False)


@pytest.mark.parametrize("how", EARLY_STOP)
def test_checkpoint_recompute_saves_more_tensors(obs, device, how):
    """A recomputation that saves more tensors: early stop hides it; without early stop backward raises."""
    x = _one_element(device)
    out = _checkpoint_with_early_stop(how, _first_then(_saves_two, _saves_three), x)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("how", EARLY_STOP)
def test_checkpoint_early_stop_skips_rest_of_recompute(obs, device, how):
    """With early stop the recomputation ends once the last saved tensor is recomputed: later code does not run."""
    steps = []

    def fn(x):
        steps.append("start")
        y = x.sin()
        steps.append("after-sin")
        z = y * 2
        steps.append("end")
        return z

    x = torch.tensor([0.1, 0.2], device=device, requires_grad=True)
    out = _checkpoint_with_early_stop(how, fn, x)
    steps.append("backward")
    obs.outcome("backward", lambda: out.sum().backward())
    obs.fact("steps.calls", steps)


DETERMINISM = [
    pytest.param(None, id="determinism_check-unset"),
    pytest.param("default", id="determinism_check-default"),
    pytest.param("none", id="determinism_check-none"),
]


@pytest.mark.parametrize("determinism_check", DETERMINISM)
def test_checkpoint_recompute_different_shape(obs, determinism_check):
    """A recomputed tensor of another shape: the default check raises the metadata error, "none" skips the check."""
    kwargs = {}
    if determinism_check is not None:
        _require_keyword("determinism_check")
        kwargs["determinism_check"] = determinism_check
    x = _one_element("cpu")  # the message names the device
    out = checkpoint(_first_then(_saves_two, _saves_two_broadcast), x, use_reentrant=False, **kwargs)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")


def test_checkpoint_determinism_check_unknown_value(obs, device):
    """determinism_check accepts only "default" and "none": another value raises when checkpoint is called."""
    _require_keyword("determinism_check")
    x = _one_element(device)
    obs.outcome("checkpoint", lambda: checkpoint(_saves_two, x, use_reentrant=False, determinism_check="bogus"))


DEBUG = [
    pytest.param("debug-True", id="debug-True"),
    pytest.param("set_checkpoint_debug_enabled-True", id="set_checkpoint_debug_enabled-True"),
    pytest.param("debug-True-under-set_checkpoint_debug_enabled-False", id="debug-True-overridden-by-global-False"),
]


@pytest.mark.parametrize("how", DEBUG)
def test_checkpoint_debug_on_non_determinism(obs, how):
    """debug=True (or the global switch) turns the metadata error into an operator log; the global switch wins."""
    _require_keyword("debug")
    set_debug = require("torch.utils.checkpoint.set_checkpoint_debug_enabled")
    x = _one_element("cpu")  # the messages name the device and the ops a device copy runs
    fn = _first_then(_saves_two, _saves_two_broadcast)

    def run():
        if how == "debug-True":
            out = checkpoint(fn, x, use_reentrant=False, debug=True)
            out.sum().backward()
        else:
            with set_debug(how == "set_checkpoint_debug_enabled-True"):
                out = checkpoint(fn, x, use_reentrant=False, debug=how != "set_checkpoint_debug_enabled-True")
                out.sum().backward()

    with _logging_tensor_logger_restored():
        raised, message = _debug_report(run)
    obs.fact("backward.raises", raised)
    if message is not None:
        obs.fact("backward.message", message)


def test_checkpoint_debug_without_non_determinism(obs, device):
    """debug=True on a deterministic function changes nothing: backward succeeds with the plain gradients."""
    _require_keyword("debug")
    x = _input(device)
    with _logging_tensor_logger_restored():  # debug mode records a C++ stack per op: one op keeps it quick
        out = obs.outcome("checkpoint", lambda: checkpoint(torch.sin, x, use_reentrant=False, debug=True))
        if out is None:
            return
        obs.outcome("backward", lambda: out.sum().backward())
    obs.fact("grad_equal.same", torch.allclose(x.grad, x.detach().cos()))


def test_checkpoint_context_fn_order(obs, device):
    """context_fn's first context wraps the forward, its second the recomputation during backward."""
    _require_keyword("context_fn")
    steps = []

    class Recording:
        def __init__(self, name):
            self.name = name

        def __enter__(self):
            steps.append(f"{self.name}-enter")

        def __exit__(self, *exc):
            steps.append(f"{self.name}-exit")

    def fn(x):
        steps.append("fn")
        return x.sin()

    x = torch.tensor([0.1, 0.2], device=device, requires_grad=True)
    out = checkpoint(fn, x, use_reentrant=False, context_fn=lambda: (Recording("forward"), Recording("recompute")))
    steps.append("backward")
    out.sum().backward()
    obs.fact("steps.calls", steps)


@pytest.mark.parametrize("keyword", [pytest.param("context_fn", id="context_fn"), pytest.param("debug", id="debug")])
def test_checkpoint_non_reentrant_keywords_with_reentrant(obs, device, keyword):
    """context_fn and debug are refused with use_reentrant=True."""
    _require_keyword(keyword)
    value = (lambda: (contextlib.nullcontext(), contextlib.nullcontext())) if keyword == "context_fn" else True
    x = _input(device)
    obs.outcome("checkpoint", lambda: checkpoint(_block, x, use_reentrant=True, **{keyword: value}))


# Selective activation checkpointing (context_fn=create_selective_checkpoint_contexts).
def _sac_context(*args, **kwargs):
    create = require("torch.utils.checkpoint.create_selective_checkpoint_contexts")
    return functools.partial(create, *args, **kwargs)


def _save_sin_policy(calls=None):
    policy = require("torch.utils.checkpoint.CheckpointPolicy")

    def policy_fn(ctx, op, *args, **kwargs):
        if calls is not None:
            calls.append([str(op), "recompute" if ctx.is_recompute else "forward"])
        return policy.MUST_SAVE if op == torch.ops.aten.sin.default else policy.PREFER_RECOMPUTE

    return policy_fn


def _sin_cos_exp(x):
    return x.sin().cos().exp()


def _sac_input(device):
    return torch.tensor([0.1, 0.2, 0.3], device=device, requires_grad=True)


def test_selective_checkpoint_policy_calls(obs, device):
    """A selective-checkpoint policy is asked about each op (forward and recompute as logged) and gradients are plain."""
    calls = []
    context_fn = _sac_context(_save_sin_policy(calls))
    x = _sac_input(device)
    out = checkpoint(_sin_cos_exp, x, use_reentrant=False, context_fn=context_fn)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.fact("policy.calls", calls)
    plain = _sac_input(device)
    _sin_cos_exp(plain).sum().backward()
    obs.fact("grad_equal.same", torch.allclose(x.grad, plain.grad))


def test_selective_checkpoint_op_list(obs, device):
    """A list of ops to save works as the policy and gives the plain gradients."""
    context_fn = _sac_context([torch.ops.aten.sin.default])
    x = _sac_input(device)
    out = checkpoint(_sin_cos_exp, x, use_reentrant=False, context_fn=context_fn)
    obs.outcome("backward", lambda: out.sum().backward())
    plain = _sac_input(device)
    _sin_cos_exp(plain).sum().backward()
    obs.fact("grad_equal.same", torch.allclose(x.grad, plain.grad))


def test_selective_checkpoint_second_backward(obs, device):
    """A second backward (retain_graph=True) through a selectively checkpointed region raises."""
    x = _sac_input(device)
    out = checkpoint(_sin_cos_exp, x, use_reentrant=False, context_fn=_sac_context(_save_sin_policy()))
    obs.outcome("first_backward", lambda: out.sum().backward(retain_graph=True))
    obs.outcome("second_backward", lambda: out.sum().backward(retain_graph=True))


@pytest.mark.parametrize("allow", [pytest.param(None, id="allow_cache_entry_mutation-unset"),
                                   pytest.param(True, id="allow_cache_entry_mutation-True")])
def test_selective_checkpoint_mutated_cache_entry(obs, device, allow):
    """An in-place change of a saved (cached) op output: backward raises unless allow_cache_entry_mutation=True."""
    create = require("torch.utils.checkpoint.create_selective_checkpoint_contexts")
    kwargs = {}
    if allow is not None:
        if "allow_cache_entry_mutation" not in inspect.signature(create).parameters:
            pytest.skip(f"no allow_cache_entry_mutation keyword in torch {torch.__version__}")
        kwargs["allow_cache_entry_mutation"] = allow
    x = _sac_input(device)
    out = checkpoint(lambda t: t.sin().mul_(2).cos().exp(), x, use_reentrant=False,
                     context_fn=_sac_context(_save_sin_policy(), **kwargs))
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")


SAC_BAD_POLICIES = [
    pytest.param(lambda: [2], id="list-with-int"),
    pytest.param(lambda: [torch.ops.aten.sin], id="list-with-OpOverloadPacket"),
    pytest.param(lambda: 2, id="int"),
]


@pytest.mark.parametrize("policy", SAC_BAD_POLICIES)
def test_selective_checkpoint_bad_policy(obs, policy):
    """create_selective_checkpoint_contexts refuses what is neither a function nor a list of OpOverloads."""
    create = require("torch.utils.checkpoint.create_selective_checkpoint_contexts")
    obs.outcome("create", lambda: create(policy()))


# Reentrant and non-reentrant side by side.
NESTED = [
    pytest.param(True, True, id="outer-reentrant-inner-reentrant"),
    pytest.param(True, False, id="outer-reentrant-inner-non-reentrant"),
    pytest.param(False, True, id="outer-non-reentrant-inner-reentrant"),
    pytest.param(False, False, id="outer-non-reentrant-inner-non-reentrant"),
]


@pytest.mark.parametrize("outer, inner", NESTED)
def test_nested_checkpoints(obs, device, outer, inner):
    """A checkpoint inside a checkpointed function gives the plain gradients (and what it warns)."""
    def fn(a):
        return checkpoint(_block, a * 2, use_reentrant=inner) * 3

    x = _input(device)
    out = obs.outcome("checkpoint", lambda: checkpoint(fn, x, use_reentrant=outer))
    if out is None:
        return
    obs.facts_of("out", out, "requires_grad", "grad_fn")
    obs.outcome("backward", lambda: out.sum().backward())
    plain = _input(device)
    fn(plain).sum().backward()
    obs.fact("grad_equal.same", torch.allclose(x.grad, plain.grad))


@pytest.mark.parametrize("kwargs", REENTRANT[:2])
def test_checkpoint_parameter_used_inside(obs, device, kwargs):
    """Inputs without grad but a parameter used inside: reentrant drops the parameter's gradient, non-reentrant keeps it."""
    w = torch.tensor([2.0, 3.0], device=device, requires_grad=True)
    x = torch.tensor([1.0, 1.0], device=device)
    out = obs.outcome("checkpoint", lambda: checkpoint(lambda a: a * w, x, **kwargs))
    if out is None:
        return
    obs.facts_of("out", out, "requires_grad", "grad_fn")
    if out.requires_grad:
        out.sum().backward()
    obs.facts_of("w", w, "grad")


@pytest.mark.parametrize("kwargs", REENTRANT[:2])
def test_checkpoint_output_without_grad(obs, device, kwargs):
    """A checkpointed function that returns a tensor without grad (computed under no_grad): reentrant backward raises."""
    x = torch.tensor([[1.0, 2.0]], device=device, requires_grad=True)
    w = torch.tensor([[0.5, -1.0], [2.0, 0.25]], device=device, requires_grad=True)

    def fn(a):
        with torch.no_grad():
            return a @ w

    out = checkpoint(fn, x, **kwargs)
    obs.facts_of("out", out, "requires_grad")
    obs.outcome("backward", lambda: (out + x).sum().backward())
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("kwargs", REENTRANT[:2])
def test_checkpoint_backward_with_inputs(obs, device, kwargs):
    """backward(inputs=[x]) through a checkpoint: the reentrant variant raises, the non-reentrant one works."""
    x = _input(device)
    out = checkpoint(_block, x, **kwargs).sum()
    obs.outcome("backward", lambda: out.backward(inputs=[x]))
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("kwargs", REENTRANT[:2])
def test_checkpoint_retain_graph_twice(obs, device, kwargs):
    """Two backward calls with retain_graph=True through a checkpoint recompute twice and accumulate."""
    x = torch.tensor([1.0, 2.0], device=device, dtype=torch.float64, requires_grad=True)
    out = checkpoint(lambda a: a.sin() * a, x, **kwargs).sum()
    obs.outcome("first_backward", lambda: out.backward(retain_graph=True))
    obs.outcome("second_backward", lambda: out.backward(retain_graph=True))
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("kwargs", REENTRANT[:2])
def test_checkpoint_without_preserving_rng_state(obs, device, kwargs):
    """preserve_rng_state=False: dropout is replayed with another mask, so gradients differ from the plain run."""
    def block(x):
        return torch.nn.functional.dropout(x, p=0.5, training=True).sum()

    x = torch.ones(16, device=device, requires_grad=True)
    torch.manual_seed(1)
    obs.outcome("backward", lambda: checkpoint(block, x, preserve_rng_state=False, **kwargs).backward())
    plain = torch.ones(16, device=device, requires_grad=True)
    torch.manual_seed(1)
    block(plain).backward()
    obs.fact("grad_equal.same", torch.equal(x.grad, plain.grad))


def _sequential(device):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(2, 2), torch.nn.Tanh(), torch.nn.Linear(2, 2), torch.nn.Tanh()]
    return torch.nn.Sequential(*layers).double().to(device)


@pytest.mark.parametrize("kwargs", REENTRANT)
@pytest.mark.parametrize("segments", [1, 2, 3, 4, 5])
def test_checkpoint_sequential_segments(obs, device, segments, kwargs):
    """checkpoint_sequential over 4 modules: any number of segments up to 4 gives the plain gradients; more fails."""
    model = _sequential(device)
    x = _input(device)
    out = obs.outcome("checkpoint_sequential", lambda: checkpoint_sequential(model, segments, x, **kwargs))
    if out is None:
        return
    obs.facts_of("out", out, "grad_fn")
    out.sum().backward()
    plain = _input(device)
    model.zero_grad()
    model(plain).sum().backward()
    obs.fact("grad_equal.same", torch.allclose(x.grad, plain.grad))


def test_checkpoint_sequential_unexpected_keyword(obs, device):
    """checkpoint_sequential refuses keyword arguments other than preserve_rng_state and use_reentrant."""
    model = _sequential(device)
    x = _input(device)
    obs.outcome("checkpoint_sequential", lambda: checkpoint_sequential(model, 2, x, use_reentrant=False, scale=2.0))


# Saved tensors of a non-reentrant checkpoint.
def test_checkpoint_custom_function_unpacks_twice(obs, device):
    """A custom Function reading ctx.saved_tensors twice in backward under a non-reentrant checkpoint: the second read."""
    seen = {}

    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            ctx.saved_tensors
            result, raised, _ = run_captured(lambda: ctx.saved_tensors)
            seen["raises"] = None if raised is None else type(raised).__name__
            seen["message"] = None if raised is None else normalize_message(str(raised))
            return grad * 2

    x = torch.tensor([0.1, 0.2], device=device, requires_grad=True)
    out = checkpoint(lambda a: Double.apply(a.sin()), x, use_reentrant=False)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.fact("second_read.raises", seen.get("raises"))
    if seen.get("message") is not None:
        obs.fact("second_read.message", seen["message"])
    obs.facts_of("x", x, "grad")


def test_checkpoint_saved_tensor_access_before_and_after_backward(obs, device):
    """grad_fn._saved_result of a checkpointed exp recomputes on access (twice is fine) and raises after backward."""
    x = torch.tensor([0.1, 0.2], device=device, requires_grad=True)
    out = checkpoint(torch.exp, x, use_reentrant=False)
    first = obs.outcome("first_access", lambda: out.grad_fn._saved_result)
    obs.outcome("second_access", lambda: out.grad_fn._saved_result)
    if first is not None:
        obs.tensor("first_access", first)
    out.sum().backward()
    obs.outcome("after_backward_access", lambda: out.grad_fn._saved_result)


def test_checkpoint_graph_exec_group_overlapping_backward(obs, device):
    """Under GraphExecGroup a second backward needing the same recomputed activations raises."""
    group = require("torch.utils.checkpoint.GraphExecGroup")
    x = torch.tensor([0.1, 0.2], device=device, requires_grad=True)
    out = checkpoint(lambda a: a.sin().cos(), x, use_reentrant=False)
    with group():
        obs.outcome("first_backward", lambda: out.sum().backward(retain_graph=True))
        obs.outcome("second_backward", lambda: out.sum().backward())
