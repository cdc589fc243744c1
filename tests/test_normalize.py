"""Tests of message normalisation."""

import pytest

from autograd_conformance.normalize import normalize_message


@pytest.mark.parametrize("raw, clean", [
    ("boom (Triggered internally at /pytorch/torch/csrc/autograd/engine.cpp:1234.)", "boom"),
    ("boom (Triggered internally at C:\\build\\x.cpp:12.)\n", "boom"),
    ("<Unique2Backward0 object at 0x7f3a2b1c4d90> broke", "<Unique2Backward0 object at 0x…> broke"),
    ("bad thing\nException raised from foo at /src/a.cpp:10 (most recent call first):\nframe #0: x", "bad thing"),
    ('Traceback (most recent call last):\n  File "/x/y.py", line 3, in f\n    g()\nValueError: v', "ValueError: v"),
    ("same on cpu and cuda", "same on cpu and cuda"),
    ("backend='inductor' raised:\nRuntimeError: r", "backend=<backend> raised:\nRuntimeError: r"),
    ("backend='aot_eager' raised:\nRuntimeError: r", "backend=<backend> raised:\nRuntimeError: r"),
])
def test_build_noise_is_stripped(raw, clean):
    assert normalize_message(raw) == clean


def test_cpu_and_cuda_style_messages_normalise_identically():
    cpu = "x (Triggered internally at /a/cpu/build/engine.cpp:99.)"
    cuda = "x (Triggered internally at /b/cuda/build/engine.cpp:101.)"
    assert normalize_message(cpu) == normalize_message(cuda)
