"""What the machine has, and the training settings that suit it.

Mixed precision halves memory traffic and, on hardware with low-precision matrix units,
multiplies convolution speed; on hardware without them it is emulated and much slower
(mixed bfloat16 was 7x slower than float32 on an AVX2-only CPU here). So the choice
depends on the machine: float16 on a GPU, bfloat16 on a CPU with AVX512_BF16 or AMX
units, float32 otherwise.

>>> from i2i_keras import hardware
>>> hardware.recommended_policy() in ("float32", "mixed_bfloat16", "mixed_float16")
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

BF16_UNITS = ("avx512_bf16", "amx_bf16")


def cpu_units(cpuinfo: str | None = None) -> dict[str, bool]:
    """Which vector and matrix units the CPU reports ({"avx2": True, ...}), read from
    /proc/cpuinfo on Linux (all False where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    flags = set(cpuinfo.split())
    return {unit: unit in flags for unit in ("avx2", "avx512f") + BF16_UNITS}


def has_gpu() -> bool:
    """True when the Keras backend in use sees a GPU (asked of that backend, so a JAX or
    PyTorch environment without TensorFlow works too)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def recommended_policy(gpu: bool | None = None, units: dict[str, bool] | None = None) -> str:
    """The Keras dtype policy for training on this machine: "mixed_float16" on a GPU,
    "mixed_bfloat16" on a CPU with bfloat16 units, else "float32"."""
    gpu = has_gpu() if gpu is None else gpu
    if gpu:
        return "mixed_float16"
    units = cpu_units() if units is None else units
    return "mixed_bfloat16" if any(units.get(u) for u in BF16_UNITS) else "float32"


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build (and train) the networks of a ``with`` block under the Keras dtype policy
    ``name`` ("float32", "mixed_bfloat16", "mixed_float16"); a network keeps the policy it
    was built with, and the previous global policy is back after the block, after an
    error too.

    >>> import keras
    >>> with dtype_policy("mixed_bfloat16"):
    ...     print(keras.config.dtype_policy().name)
    mixed_bfloat16
    >>> keras.config.dtype_policy().name
    'float32'
    """
    import keras

    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
