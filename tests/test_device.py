"""Device choice: auto, explicit names, refusals."""

import pytest
import torch

from napari_mmtseg.device import describe_device, resolve_device


def test_names_resolve_to_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert resolve_device(None) == resolve_device("auto")


def test_unknown_or_missing_devices_are_refused():
    with pytest.raises(ValueError, match="Unknown device"):
        resolve_device("tpu-ish!")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='gpu' was asked for") as err:
            resolve_device("gpu")
        assert "'cuda'" not in str(err.value).split("asked for")[0]  # what the user typed
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device(0)


def test_describe_device_names_the_cpu_threads():
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert describe_device(torch.device("cpu")) == "cpu (1 thread)"
    finally:
        torch.set_num_threads(old)
