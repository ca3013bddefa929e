"""The fingerprint of a computation: what decides how its floats are rounded (docs/determinism.md).

Two runs of one config give the same bits only where the same kernels sum in the same order: the same CPU
instruction set as torch dispatches to it (`torch.backends.cpu.get_cpu_capability()`), the same torch / oneDNN /
MKL builds and the same thread count; on a GPU the same device, CUDA / cuDNN and TF32 setting. Every run record
keeps this dict (summary `fingerprint`); it is not part of the run key.
"""
from __future__ import annotations

import hashlib
import platform
import re
from typing import Any

import numpy as np
import torch

# The fields two fingerprints must share for a retrained run to be expected bit for bit equal.
BITWISE_FIELDS = ("cpu_model", "cpu_capability", "torch", "mkldnn", "mkl", "threads", "device_name", "cuda",
                  "cudnn", "tf32")


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (Linux; empty elsewhere)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The CPU's model name, family / model / stepping (a VM's model name may be as vague as "AMD EPYC") and
    a short digest of its instruction-set flags (AMX or not, AVX-512 or not)."""
    info = _cpuinfo()
    name = info.get("model name") or platform.processor() or platform.machine()
    ids = "/".join(info.get(k, "?") for k in ("cpu family", "model", "stepping"))
    flags = hashlib.sha256(info.get("flags", "").encode()).hexdigest()[:8]
    return f"{name} (family/model/stepping {ids}, flags {flags})"


def _version(getter) -> str | None:
    try:
        return str(getter())
    except Exception:  # a backend torch was built without
        return None


def _built_with(label: str) -> str | None:
    """The version torch's build configuration names for `label` (e.g. "MKL-DNN v3.12.0"), else None."""
    match = re.search(re.escape(label) + r"[^\n]*?(v?\d+(?:\.\d+)+)", torch.__config__.show())
    return match.group(1) if match else None


def fingerprint(device: torch.device | str = "cpu") -> dict[str, Any]:
    device = torch.device(device)
    out: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_capability": _version(torch.backends.cpu.get_cpu_capability),
        "torch": torch.__version__,
        "mkldnn": _built_with("MKL-DNN") if torch.backends.mkldnn.is_available() else None,
        "mkl": _built_with("Math Kernel Library Version") if torch.backends.mkl.is_available() else None,
        "numpy": np.__version__,
        "threads": torch.get_num_threads(),
        "device_name": None, "cuda": None, "cudnn": None, "tf32": None,
    }
    if device.type == "cuda":
        out.update({"device_name": torch.cuda.get_device_name(device), "cuda": torch.version.cuda,
                    "cudnn": _version(torch.backends.cudnn.version),
                    "tf32": bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32)})
    return out


def differences(recorded: dict[str, Any] | None, here: dict[str, Any]) -> list[str]:
    """The bitwise-relevant fields in which `here` differs from `recorded` ("field: recorded -> here"); a record
    without a fingerprint (older runs) differs in everything it cannot show."""
    if not recorded:
        return ["the record has no fingerprint"]
    return [f"{k}: {recorded.get(k)!r} -> {here.get(k)!r}" for k in BITWISE_FIELDS if recorded.get(k) != here.get(k)]
