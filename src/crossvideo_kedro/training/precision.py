"""Mixed precision, ``torch.compile`` and thread helpers shared by the training loops.

``resolve_amp`` turns the ``amp`` parameter into an autocast dtype once, and ``autocast`` opens the matching context
(a no-op for ``None``), so every loop reads::

    dtype = resolve_amp(config.amp, device)          # torch.bfloat16 or None
    with autocast(device, dtype):
        out = model(...)                             # matmuls / convolutions in bf16
    loss = loss_fn({k: v.float() for k, v in out.items()})   # the objective in fp32

What stays in fp32 under bf16 autocast: parameters, gradients and optimiser state (autocast casts copies), the
norms (LayerNorm / GroupNorm / BatchNorm compute their statistics in fp32 on CPU and CUDA), the FPS / ball query
distances (``geometry/neighbors.py`` casts to float32 and returns indices), the displacement encoding (coordinates
are never cast), and the losses when the loop casts the embeddings back with ``.float()`` as above.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from crossvideo_kedro.configs.pretrain import AMP_CHOICES, Amp

logger = logging.getLogger(__name__)

_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_bf16_matmul(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU runs bf16 matmuls natively (AVX512-BF16 or AMX-BF16) through oneDNN.

    Reads the CPU flags from ``cpuinfo`` (Linux); elsewhere asks oneDNN (``torch.ops.mkldnn``), else False.
    """
    if not torch.backends.mkldnn.is_available():
        return False
    path = Path(cpuinfo)
    if path.is_file():
        flags = set()
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                flags.update(line.split(":", 1)[1].split())
        return any(flag in flags for flag in _CPU_BF16_FLAGS)
    try:  # not Linux: oneDNN's own check (avx512_core_bf16 or better)
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - depends on the build
        return False


def resolve_amp(amp: bool | Amp | None, device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype for the ``amp`` parameter on ``device``.

    Args:
        amp: ``"auto"`` or ``True`` — bf16 where the hardware has fast bf16 matmuls (CUDA devices that support
            bf16; CPUs with AVX512-BF16 / AMX-BF16), fp32 elsewhere; ``"bf16"`` — bf16 on any device (slow
            emulation on CPUs without bf16 units; for tests); ``"off"``, ``False`` or ``None`` — fp32.
        device: where the model runs.

    Returns:
        ``torch.bfloat16``, or ``None`` for plain fp32.
    """
    device = torch.device(device)
    if amp is None or amp is False or amp == "off":
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp is True or amp == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
        if device.type == "cpu":
            return torch.bfloat16 if cpu_has_bf16_matmul() else None
        return None
    raise ValueError(f"amp must be one of {AMP_CHOICES} or true/false, got {amp!r}")  # predict_sequence(amp=...)


def autocast(device: torch.device | str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on ``device`` in ``dtype``; a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def maybe_compile(module: nn.Module, enabled: bool, **kwargs) -> nn.Module:
    """``torch.compile(module, **kwargs)`` when ``enabled``, else ``module`` unchanged.

    The compiled wrapper shares parameters and ``state_dict`` keys with ``module`` (behind ``_orig_mod``): keep a
    reference to the plain module for checkpoints and the optimiser.
    """
    if not enabled:
        return module
    return torch.compile(module, **kwargs)


def set_threads(num_threads: int | None) -> int:
    """Set torch's intra-op threads (None: leave torch's default, one per core) and one inter-op thread.

    One inter-op thread fits small machines: the training step has no independent graph branches worth running in
    parallel, and extra pools only compete with the intra-op threads for the cores.
    Returns the intra-op thread count now in use.
    """
    if num_threads is not None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1 or null, got {num_threads}")
        torch.set_num_threads(num_threads)
    with contextlib.suppress(RuntimeError):  # only settable before the first inter-op parallel work
        torch.set_num_interop_threads(1)
    return torch.get_num_threads()


@contextlib.contextmanager
def no_autocast(device: torch.device | str) -> Iterator[None]:
    """Leave autocast for a block that must run in fp32 (e.g. distances whose ties decide indices)."""
    with torch.autocast(device_type=torch.device(device).type, enabled=False):
        yield
