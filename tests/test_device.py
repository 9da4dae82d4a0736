"""Tests for cyclegan.device: resolving --device names, and counting the cores this process may use."""
import pytest
import torch

from cyclegan.data import DataError
from cyclegan.device import cpu_cores, resolve_device


def test_auto_and_named_devices():
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DataError, match="not a device name"):
        resolve_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_one_line_error():
    with pytest.raises(DataError, match=r"^--device cuda:1: CUDA is not available on this machine"):
        resolve_device("cuda:1")


def test_cores_follow_the_affinity_mask(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    assert cpu_cores() == 3
