"""The machine a figure was measured on (device, threads, library versions, load): recorded with
every ``drnet bench`` report and benchmark result, so a figure is read with its conditions."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: how busy the (shared) machine was."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def environment(device: torch.device) -> dict[str, Any]:
    """The machine a figure was measured on."""
    if device.type == "cuda":
        name, bf16 = torch.cuda.get_device_name(device), torch.cuda.is_bf16_supported()
    else:
        name, bf16 = _cpu_name(), bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return {"device": device.type, "device_name": name, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "bf16_native": bf16,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "load_average_start": load_average(), **_engine_versions()}


def _engine_versions() -> dict[str, str | None]:
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for package in ("onnxruntime", "openvino"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"
