"""The device vocabulary and the CPU share of a worker process."""

from __future__ import annotations

import os
import subprocess
import sys

from autograd_conformance import devices

SHARE = "import torch; from autograd_conformance.devices import share_cpu; share_cpu({n}); print(torch.get_num_threads())"


def _threads(workers, **env):
    done = subprocess.run([sys.executable, "-c", SHARE.format(n=workers)], capture_output=True, text=True, check=True,
                          env={**{k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}, **env})
    return int(done.stdout)


def test_the_vocabulary():
    assert devices.is_device("cuda") and not devices.is_device("tpu") and devices.available("cpu")


def test_workers_share_the_cores_and_an_explicit_thread_count_is_kept():
    alone = _threads(1)
    assert _threads(2) == max(1, (os.cpu_count() or 1) // 2)
    assert _threads(os.cpu_count() * 4) == 1
    assert alone >= _threads(2)
    assert _threads(2, OMP_NUM_THREADS="3") == _threads(1, OMP_NUM_THREADS="3")  # as torch reads it, not shared


def test_a_standin_device_runs_on_the_reference_device_under_its_own_name(monkeypatch):
    monkeypatch.delenv(devices.STANDIN_ENV, raising=False)
    assert devices.standin() is None and devices.argument("cuda") == "cuda"
    monkeypatch.setenv(devices.STANDIN_ENV, "cuda")
    argument = devices.argument("cuda")
    assert argument == "cpu" and devices.name_of(argument) == "cuda" and devices.available("cuda")
    import torch

    assert torch.ones(1, device=argument).device.type == "cpu"  # torch sees the reference device
    assert devices.name_of("cpu") == "cpu" and devices.argument("cpu") == "cpu"
    monkeypatch.setenv(devices.STANDIN_ENV, "cpu")  # the reference device stands in for nothing
    assert devices.standin() is None
