"""Grad-mode context managers and decorators: every form of no_grad, enable_grad, set_grad_enabled and
inference_mode (bare and called decorators, on functions, generators, coroutines, classes and methods), nesting,
reuse of one instance, exceptions, non-bool arguments, threads and asyncio tasks, and the torch.autograd aliases."""

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from autograd_conformance.observe import require


def _modes():
    """[grad enabled, inference mode] where called."""
    return [torch.is_grad_enabled(), torch.is_inference_mode_enabled()]


def _in_fresh_thread(body):
    """Run ``body`` in a new thread and return its result: grad modes are thread-local, so whatever a scenario
    leaves behind (a reused instance that does not restore) dies with the thread."""
    out = {}

    def target():
        try:
            out["result"] = body()
        except Exception as exc:  # handed back to the calling thread
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["result"]


# Each form decorates a function; ``outer`` is the mode the decorated function is called from, chosen so the
# decorator has something to change.
FORMS = [
    pytest.param(lambda f: torch.no_grad(f), contextlib.nullcontext, id="no_grad-bare"),
    pytest.param(lambda f: torch.no_grad()(f), contextlib.nullcontext, id="no_grad-called"),
    pytest.param(lambda f: torch.enable_grad(f), torch.no_grad, id="enable_grad-bare"),
    pytest.param(lambda f: torch.enable_grad()(f), torch.no_grad, id="enable_grad-called"),
    pytest.param(lambda f: torch.set_grad_enabled(f), contextlib.nullcontext, id="set_grad_enabled-bare"),
    pytest.param(lambda f: torch.set_grad_enabled(False)(f), contextlib.nullcontext, id="set_grad_enabled-False"),
    pytest.param(lambda f: torch.set_grad_enabled(True)(f), torch.no_grad, id="set_grad_enabled-True"),
    pytest.param(lambda f: torch.inference_mode(f), contextlib.nullcontext, id="inference_mode-bare"),
    pytest.param(lambda f: torch.inference_mode()(f), contextlib.nullcontext, id="inference_mode-called"),
    pytest.param(lambda f: torch.inference_mode(False)(f), torch.inference_mode, id="inference_mode-False"),
]


@pytest.mark.parametrize("decorate, outer", FORMS)
def test_decorated_function(obs, device, decorate, outer):
    """A decorated function runs under the decorator's mode and restores the caller's; bare forms differ by release."""
    x = torch.ones(2, device=device, requires_grad=True)

    def body(t):
        """The body's docstring."""
        return _modes(), t * 2

    decorated = obs.outcome("decorate", lambda: decorate(body))
    obs.fact("after_decorate.grad_enabled", torch.is_grad_enabled())
    torch.set_grad_enabled(True)
    if decorated is None:
        return
    obs.fact("decorated.value", [type(decorated).__name__, getattr(decorated, "__name__", "None"),
                                 getattr(decorated, "__doc__", None) == body.__doc__])
    with outer():
        result = obs.outcome("call", lambda: decorated(x))
        obs.fact("caller_after.value", _modes())
    if not isinstance(result, tuple):
        obs.fact("call_result.value", type(result).__name__)
        return
    modes, y = result
    obs.fact("inside.value", modes)
    obs.facts_of("y", y, "requires_grad", "grad_fn", "is_inference")


@pytest.mark.parametrize("decorate, outer", FORMS)
def test_decorated_generator(obs, decorate, outer):
    """A decorated generator function runs each step under the decorator's mode; the consumer keeps its own."""
    def gen():
        try:
            yield ["generator-step-1", *_modes()]
            yield ["generator-step-2", *_modes()]
        finally:
            steps.append(["generator-close", *_modes()])

    steps = []
    decorated = obs.outcome("decorate", lambda: decorate(gen))
    torch.set_grad_enabled(True)
    if decorated is None:
        return
    with outer():
        iterator = obs.outcome("call", decorated)
        if iterator is None:
            return
        steps.append(next(iterator))
        steps.append(["consumer-after-step-1", *_modes()])
        steps.append(next(iterator))
        steps.append(["consumer-after-step-2", *_modes()])
        iterator.close()
        steps.append(["consumer-after-close", *_modes()])
    obs.fact("steps.calls", steps)


def test_context_manager_inside_generator(obs):
    """A with no_grad() block around a yield leaks into the consumer between steps (unlike the decorator)."""
    def gen():
        with torch.no_grad():
            yield ["generator-step-1", *_modes()]
            yield ["generator-step-2", *_modes()]

    steps = []
    iterator = gen()
    steps.append(next(iterator))
    steps.append(["consumer-after-step-1", *_modes()])
    steps.append(next(iterator))
    steps.append(["consumer-after-step-2", *_modes()])
    iterator.close()
    steps.append(["consumer-after-close", *_modes()])
    obs.fact("steps.calls", steps)


@pytest.mark.parametrize("decorate, outer", FORMS)
def test_decorated_coroutine(obs, decorate, outer):
    """A decorated async function: the mode is set while the coroutine is created, not while asyncio runs its body."""
    async def body():
        before = _modes()
        await asyncio.sleep(0)
        return [["before-await", *before], ["after-await", *_modes()]]

    decorated = obs.outcome("decorate", lambda: decorate(body))
    torch.set_grad_enabled(True)
    if decorated is None:
        return
    with outer():
        coroutine = obs.outcome("call", decorated)
        if coroutine is None:
            return
        obs.fact("is_coroutine.value", asyncio.iscoroutine(coroutine))
        if not asyncio.iscoroutine(coroutine):
            return
        obs.fact("inside.calls", asyncio.run(coroutine))


def test_no_grad_block_across_await_leaks_to_other_task(obs):
    """A with no_grad() block held across an await is seen by another asyncio task of the same thread."""
    seen = []

    async def holder():
        with torch.no_grad():
            seen.append(["holder-in-block", *_modes()])
            await asyncio.sleep(0)
            seen.append(["holder-after-await", *_modes()])

    async def other():
        seen.append(["other-task", *_modes()])

    async def main():
        await asyncio.gather(holder(), other())
        seen.append(["after-both", *_modes()])

    asyncio.run(main())
    obs.fact("steps.calls", seen)


CLASS_FORMS = [
    pytest.param(lambda c: torch.no_grad(c), id="no_grad-bare"),
    pytest.param(lambda c: torch.no_grad()(c), id="no_grad-called"),
    pytest.param(lambda c: torch.enable_grad()(c), id="enable_grad-called"),
    pytest.param(lambda c: torch.set_grad_enabled(False)(c), id="set_grad_enabled-False"),
    pytest.param(lambda c: torch.inference_mode()(c), id="inference_mode-called"),
]


@pytest.mark.parametrize("decorate", CLASS_FORMS)
def test_decorated_class(obs, decorate):
    """Decorating a class warns that it is deprecated, wraps only construction, and the result is no longer a class."""
    class Model:
        def __init__(self):
            self.init_modes = _modes()

        def method(self):
            return _modes()

    wrapped = obs.outcome("decorate", lambda: decorate(Model))
    torch.set_grad_enabled(True)
    if wrapped is None:
        return
    obs.fact("wrapped.value", [type(wrapped).__name__, isinstance(wrapped, type)])
    with torch.no_grad():
        instance = obs.outcome("construct", wrapped)
    if instance is None:
        return
    obs.fact("instance.value", [type(instance).__name__, type(instance) is Model])
    obs.fact("init.value", instance.init_modes)
    with torch.no_grad():
        obs.fact("method_from_no_grad.value", instance.method())
    obs.outcome("isinstance", lambda: isinstance(instance, wrapped))


def _methods():
    class Model:
        @torch.no_grad()
        def method(self):
            return _modes()

        @classmethod
        @torch.no_grad()
        def class_method(cls):
            return _modes()

        @staticmethod
        @torch.no_grad()
        def static_method():
            return _modes()

        @torch.no_grad()
        @staticmethod
        def decorated_staticmethod_object():
            return _modes()

    return Model


METHODS = [
    pytest.param(lambda m: m().method(), id="method"),
    pytest.param(lambda m: m.class_method(), id="classmethod-over-no_grad"),
    pytest.param(lambda m: m.static_method(), id="staticmethod-over-no_grad"),
    pytest.param(lambda m: m().decorated_staticmethod_object(), id="no_grad-over-staticmethod-via-instance"),
    pytest.param(lambda m: m.decorated_staticmethod_object(), id="no_grad-over-staticmethod-via-class"),
]


@pytest.mark.parametrize("call", METHODS)
def test_decorated_methods(obs, call):
    """@torch.no_grad() on methods, under classmethod/staticmethod and over a staticmethod object."""
    model = obs.outcome("define", _methods)
    if model is None:
        return
    inside = obs.outcome("call", lambda: call(model))
    if inside is not None:
        obs.fact("inside.value", inside)


CONTEXTS = {
    "no_grad": torch.no_grad,
    "enable_grad": torch.enable_grad,
    "set_grad_enabled-True": lambda: torch.set_grad_enabled(True),
    "set_grad_enabled-False": lambda: torch.set_grad_enabled(False),
    "inference_mode": torch.inference_mode,
    "inference_mode-False": lambda: torch.inference_mode(False),
}

NESTINGS = [
    pytest.param(outer, inner, id=f"{inner}-in-{outer}")
    for outer in ["no_grad", "set_grad_enabled-False", "inference_mode"]
    for inner in ["enable_grad", "set_grad_enabled-True", "no_grad", "inference_mode", "inference_mode-False"]
]


@pytest.mark.parametrize("outer, inner", NESTINGS)
def test_nested_contexts(obs, device, outer, inner):
    """Nested grad-mode contexts: the inner one decides inside, and each exit restores what its entry saw."""
    x = torch.ones(2, device=device, requires_grad=True)
    with CONTEXTS[outer]():
        with CONTEXTS[inner]():
            obs.fact("inner.value", _modes())
            y = x * 2
            fresh = torch.ones(2, device=device)
        obs.fact("outer_after_inner.value", _modes())
    obs.fact("after.value", _modes())
    obs.facts_of("y", y, "requires_grad", "grad_fn", "is_inference")
    obs.facts_of("fresh", fresh, "is_inference")


REUSED = [
    pytest.param(torch.no_grad, id="no_grad"),
    pytest.param(torch.enable_grad, id="enable_grad"),
    pytest.param(lambda: torch.set_grad_enabled(False), id="set_grad_enabled-False"),
    pytest.param(torch.inference_mode, id="inference_mode"),
]


@pytest.mark.parametrize("make", REUSED)
def test_one_instance_entered_twice(obs, make):
    """One context-manager instance entered nested twice: does the mode come back after both exits?"""
    def scenario():
        steps = [["start", *_modes()]]
        manager = make()
        steps.append(["constructed", *_modes()])
        with torch.no_grad() if make is torch.enable_grad else contextlib.nullcontext():
            steps.append(["before", *_modes()])
            result, raised = None, None
            try:
                with manager:
                    with manager:
                        steps.append(["inner", *_modes()])
                    steps.append(["after-inner-exit", *_modes()])
                steps.append(["after-outer-exit", *_modes()])
            except Exception as exc:  # a probe observes any exception torch raises
                raised = type(exc).__name__
        return steps, raised

    steps, raised = _in_fresh_thread(scenario)
    obs.fact("steps.calls", steps)
    obs.fact("reuse.raises", raised)


@pytest.mark.parametrize("make", REUSED)
def test_one_instance_entered_sequentially(obs, make):
    """One context-manager instance used for two consecutive with-blocks works both times."""
    def scenario():
        manager = make()
        steps = []
        with torch.no_grad() if make is torch.enable_grad else contextlib.nullcontext():
            for block in ("first", "second"):
                with manager:
                    steps.append([block, *_modes()])
                steps.append([f"after-{block}", *_modes()])
        return steps

    obs.fact("steps.calls", _in_fresh_thread(scenario))


def _raise_inside_with(factory):
    with factory():
        raise KeyError("boom")


EXCEPTION_FORMS = [
    pytest.param(lambda: _raise_inside_with(torch.no_grad), id="no_grad-block"),
    pytest.param(lambda: torch.no_grad()(lambda: _raise_inside_with(contextlib.nullcontext))(), id="no_grad-decorator"),
    pytest.param(lambda: _raise_inside_with(lambda: torch.set_grad_enabled(False)), id="set_grad_enabled-False-block"),
    pytest.param(lambda: _raise_inside_with(torch.inference_mode), id="inference_mode-block"),
]


@pytest.mark.parametrize("action", EXCEPTION_FORMS)
def test_exception_inside_restores_mode(obs, action):
    """An exception raised inside a grad-mode block or decorated function propagates and the mode is restored."""
    obs.outcome("raise_inside", action)
    obs.fact("after.value", _modes())


def test_set_grad_enabled_forms(obs):
    """set_grad_enabled acts when constructed: as a call it sticks, as a with-block or decorator it restores."""
    def scenario():
        steps = [["start", *_modes()]]
        torch.set_grad_enabled(False)
        steps.append(["after-call-False", *_modes()])
        torch.set_grad_enabled(True)
        steps.append(["after-call-True", *_modes()])
        manager = torch.set_grad_enabled(False)
        steps.append(["constructed-not-entered", *_modes()])
        with manager:
            steps.append(["inside-with", *_modes()])
        steps.append(["after-with", *_modes()])
        decorated = torch.set_grad_enabled(False)(_modes)
        steps.append(["after-decorating", *_modes()])
        steps.append(["inside-decorated", *decorated()])
        steps.append(["after-decorated-call", *_modes()])
        return steps

    obs.fact("steps.calls", _in_fresh_thread(scenario))


def test_set_grad_enabled_constructed_under_no_grad(obs):
    """set_grad_enabled(True) constructed inside no_grad enables grad at once; no_grad's exit then restores True."""
    def scenario():
        steps = []
        with torch.no_grad():
            steps.append(["in-no_grad", *_modes()])
            torch.set_grad_enabled(True)
            steps.append(["after-call-True", *_modes()])
        steps.append(["after-no_grad", *_modes()])
        return steps

    obs.fact("steps.calls", _in_fresh_thread(scenario))


NON_BOOL = [
    pytest.param(0, id="0"),
    pytest.param(1, id="1"),
    pytest.param(None, id="None"),
    pytest.param("yes", id="str"),
]


@pytest.mark.parametrize("value", NON_BOOL)
def test_set_grad_enabled_non_bool(obs, value):
    """set_grad_enabled with a value that is not a bool."""
    def scenario():
        try:
            with torch.set_grad_enabled(value):
                return None, None, _modes()
        except Exception as exc:  # a probe observes any exception torch raises
            return type(exc).__name__, str(exc), _modes()

    raised, message, modes = _in_fresh_thread(scenario)
    obs.fact("with.raises", raised)
    if message is not None:
        obs.fact("with.message", message)
    obs.fact("modes.value", modes)


@pytest.mark.parametrize("value", NON_BOOL)
def test_inference_mode_non_bool(obs, value):
    """inference_mode with a value that is not a bool: a non-bool is taken for a function to decorate."""
    def scenario():
        made = None
        try:
            made = torch.inference_mode(value)
            with made:
                return type(made).__name__, None, None, _modes()
        except Exception as exc:  # a probe observes any exception torch raises
            return type(made).__name__, type(exc).__name__, str(exc), _modes()

    made, raised, message, modes = _in_fresh_thread(scenario)
    obs.fact("made.value", made)
    obs.fact("with.raises", raised)
    if message is not None:
        obs.fact("with.message", message)
    obs.fact("modes.value", modes)


@pytest.mark.parametrize("factory", [pytest.param(torch.no_grad, id="no_grad"),
                                     pytest.param(torch.enable_grad, id="enable_grad"),
                                     pytest.param(lambda: torch.set_grad_enabled(True), id="set_grad_enabled"),
                                     pytest.param(torch.inference_mode, id="inference_mode")])
def test_with_as_value(obs, factory):
    """What ``with <grad mode>() as value`` binds."""
    with factory() as value:
        obs.fact("as.value", repr(value))


THREAD_STARTS = [
    pytest.param(lambda: torch.no_grad(), id="no_grad"),
    pytest.param(lambda: torch.set_grad_enabled(False), id="set_grad_enabled-False"),
    pytest.param(lambda: torch.inference_mode(), id="inference_mode"),
]


@pytest.mark.parametrize("factory", THREAD_STARTS)
def test_thread_started_inside_mode(obs, device, factory):
    """A thread started inside a grad-mode block runs with the defaults: modes are thread-local."""
    x = torch.ones(2, device=device, requires_grad=True)
    seen = {}

    def target():
        seen["modes"] = _modes()
        seen["y"] = x * 2

    with factory():
        obs.fact("caller.value", _modes())
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    obs.fact("thread.value", seen["modes"])
    obs.facts_of("y", seen["y"], "requires_grad", "grad_fn", "is_inference")


def test_thread_pool_worker_keeps_mode_between_tasks(obs):
    """A pool worker that calls set_grad_enabled(False) keeps it for the next task it runs."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(lambda: (torch.set_grad_enabled(False), _modes())[1]).result()
        second = pool.submit(_modes).result()
    obs.fact("first_task.value", first)
    obs.fact("second_task.value", second)
    obs.fact("caller.value", _modes())


def test_grad_mode_inside_backward_hook(obs, device):
    """During backward (without create_graph) a tensor hook runs with grad disabled; with create_graph, enabled."""
    seen = []
    x = torch.ones(2, device=device, requires_grad=True)
    x.register_hook(lambda g: seen.append(_modes()))
    (x * x).sum().backward(create_graph=False)
    (x * x).sum().backward(create_graph=True)
    x.grad = None
    obs.fact("hook.calls", seen)


ALIASES = [
    pytest.param("no_grad", id="no_grad"),
    pytest.param("enable_grad", id="enable_grad"),
    pytest.param("set_grad_enabled", id="set_grad_enabled"),
    pytest.param("inference_mode", id="inference_mode"),
]


@pytest.mark.parametrize("name", ALIASES)
def test_autograd_namespace_aliases(obs, name):
    """torch.X, torch.autograd.X and torch.autograd.grad_mode.X are one object."""
    obj = getattr(torch, name)
    obs.fact("autograd.same", getattr(torch.autograd, name, None) is obj)
    obs.fact("grad_mode.same", getattr(torch.autograd.grad_mode, name, None) is obj)


@pytest.mark.parametrize("path", [
    pytest.param("torch.is_grad_enabled", id="torch.is_grad_enabled"),
    pytest.param("torch.is_inference_mode_enabled", id="torch.is_inference_mode_enabled"),
    pytest.param("torch.autograd.set_multithreading_enabled", id="torch.autograd.set_multithreading_enabled"),
    pytest.param("torch.autograd.grad_mode.set_multithreading_enabled", id="grad_mode.set_multithreading_enabled"),
    pytest.param("torch.autograd.enforce_grad_layout_policy", id="torch.autograd.enforce_grad_layout_policy"),
    pytest.param("torch.autograd.is_grad_enabled", id="torch.autograd.is_grad_enabled"),
])
def test_grad_mode_api_present(obs, path):
    """Which grad-mode functions and context managers a release has."""
    obj = torch
    for part in path.split(".")[1:]:
        obj = getattr(obj, part, None)
    obs.fact("api.present", obj is not None)


@pytest.mark.parametrize("form", [pytest.param("with", id="with-block"), pytest.param("decorator", id="decorator"),
                                  pytest.param("call", id="call")])
def test_set_multithreading_enabled_forms(obs, device, form):
    """set_multithreading_enabled(False) as a with-block, decorator or call: backward still computes the gradient."""
    manager = require("torch.autograd.set_multithreading_enabled")
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)

    def step():
        (x * x).sum().backward()

    def scenario():
        if form == "with":
            with manager(False):
                step()
        elif form == "decorator":
            manager(False)(step)()
        else:
            manager(False)
            step()

    obs.outcome("backward", lambda: _in_fresh_thread(scenario))
    obs.facts_of("x", x, "grad")
