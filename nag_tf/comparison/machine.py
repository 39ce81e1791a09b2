"""The machine a figure was measured on: the CPU model and any GPU, written into every comparison's JSON."""

import os
import platform
import subprocess

__all__ = ["machine"]


def _gpu_names():
    """The GPUs nvidia-smi lists ("" without one): a figure measured on a GPU must say which."""
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return ", ".join(name.strip() for name in listed.splitlines() if name.strip())


def machine():
    """The CPU model (lscpu's 'Model name') and any GPU, so every figure names the machine it came from."""
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
                    break
    except OSError:
        pass
    gpus = _gpu_names()
    return f"{cpu}; GPU: {gpus}" if gpus else cpu
