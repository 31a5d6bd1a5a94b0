"""Peak memory of one call: the most bytes of tensors it held at once, beyond what existed before.

CUDA has allocator statistics for this. The CPU allocator has none, and the process's resident
size mixes in whatever malloc keeps cached, so on the CPU every storage created during the call
is counted when it appears and uncounted when it is freed (a dispatch mode sees every op,
backward included). Both count tensor bytes, so CPU and GPU figures compare.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from drnet.errors import OutOfMemoryEstimateError


class _StorageTracker(TorchDispatchMode):
    """Live bytes of the storages that ops create while the mode is active."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type != "meta" and not t.is_sparse:
                self._track(t)
        return out

    def _track(self, t: torch.Tensor) -> None:
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):  # e.g. opaque mkldnn tensors
            return
        key = storage._cdata
        if key in self._seen:
            return
        self._seen.add(key)
        size = storage.nbytes()
        self.live += size
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._free, key, size)

    def _free(self, key: int, size: int) -> None:
        self._seen.discard(key)
        self.live -= size


def peak_memory(fn: Callable[[], Any], device: torch.device | str = "cpu") -> int:
    """Peak bytes of tensors allocated by ``fn()`` and alive at the same time."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    tracker = _StorageTracker()
    with tracker:
        result = fn()
    del result
    return tracker.peak


PROBE_SIZE = 64  # pixels per side of the run the estimate is scaled from


def estimate_forward_bytes(model: torch.nn.Module, input_size: tuple[int, int], batch: int = 1,
                           train: bool = False) -> int:
    """Bytes a forward (and backward, with ``train``) at ``input_size`` would hold at its peak,
    estimated from a ``PROBE_SIZE`` run scaled by area: activations of a fully convolutional
    network grow with the number of pixels. The input itself is included."""
    probe = torch.randn(1, 3, PROBE_SIZE, PROBE_SIZE)
    was_training = model.training
    model.train(train)
    try:
        def run() -> Any:
            if not train:
                with torch.no_grad():
                    return model(probe)
            out = model(probe)
            out = out if isinstance(out, torch.Tensor) else torch.cat([o.flatten() for o in out])
            out.float().sum().backward()
            return None

        peak = peak_memory(run)
    finally:
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    scale = batch * input_size[0] * input_size[1] / PROBE_SIZE**2
    return int(peak * scale + 4 * batch * 3 * input_size[0] * input_size[1])


def available_bytes(device: torch.device | str = "cpu") -> int | None:
    """Memory free for new tensors: CUDA's free memory, else ``MemAvailable`` of
    /proc/meminfo (``None`` where it cannot be read)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(model: torch.nn.Module, input_size: tuple[int, int], batch: int,
               device: torch.device | str = "cpu", train: bool = False) -> None:
    """Refuse, before allocating, an input whose estimated peak exceeds the free memory."""
    free = available_bytes(device)
    if free is None:
        return
    need = estimate_forward_bytes(model, input_size, batch, train)
    if need > free:
        size = f"{batch}x3x{input_size[0]}x{input_size[1]}"
        raise OutOfMemoryEstimateError(f"an input of {size} needs about {need / 2**30:.1f} GiB "
                                       f"({'training' if train else 'inference'}, estimated from a "
                                       f"{PROBE_SIZE}x{PROBE_SIZE} run scaled by area) but "
                                       f"{free / 2**30:.1f} GiB are free on {device}: use a "
                                       "smaller --input or --batch")
