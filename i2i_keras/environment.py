"""A quiet start and a configuration block for the top of every notebook.

TensorFlow prints notes from C++ when it starts (oneDNN, "Could not find cuda drivers",
"failed call to cuInit ... UNKNOWN ERROR" on a machine without a GPU, absl's
"All log messages before absl::InitializeLog()"): none is an error, but a student reads
red lines as failure. ``TF_CPP_MIN_LOG_LEVEL`` no longer hides them all (TensorFlow
2.21 prints them before reading it), so :func:`quiet_start` imports Keras with the
process's standard error filtered of exactly those lines; anything else still shows.
:func:`print_config` then says what the notebook runs on, as MONAI's ``print_config``.

>>> from i2i_keras import environment
>>> environment.is_start_up_noise("I0000 00:00:1 cudart_stub.cc:31] Could not find cuda drivers")
True
>>> environment.is_start_up_noise("ValueError: bad input")
False
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

# The start-up lines TensorFlow/XLA print on a machine that may have no GPU.
NOISE = re.compile(
    r"(^[IWE]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|cuda_platform|"
    r"cuda_executor|cuda_dnn|cuda_fft|cuda_blas|cpu_utils|computation_placer)\.cc:\d+\])"
    r"|(^WARNING: All log messages before absl::InitializeLog\(\) is called)"
    r"|(^To enable the following instructions: .*rebuild TensorFlow)"
    r"|(^WARNING: Logging before InitGoogle)")


def is_start_up_noise(line: str) -> bool:
    """True for one of TensorFlow's known start-up notes (not an error)."""
    return bool(NOISE.search(line.strip()))


def quiet_start() -> None:
    """Import Keras (and TensorFlow when it is the backend) with TensorFlow's start-up
    notes filtered out of standard error; every other line is printed as it came.
    Call it before anything else imports TensorFlow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        _quiet_tensorflow_logger()
        return  # too late to catch the notes: they have been printed already
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)  # C++ writes to file descriptor 2 directly
        try:
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                tf.config.list_physical_devices("GPU")  # cuInit happens here
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        kept = [line for line in caught.read().decode(errors="replace").splitlines()
                if line.strip() and not is_start_up_noise(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)
    _quiet_tensorflow_logger()


def _quiet_tensorflow_logger() -> None:
    """On TensorFlow, keep its Python logger to errors: ``predict`` on a new network or
    image size retraces, and the warning that says so (with a memory address in it) is
    expected here, not a fault."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")


def config() -> dict[str, str]:
    """What a run depends on: versions, Keras backend, device, dtype policy, data folder
    and mode (``I2I_QUICK``, ``I2I_PRETRAINED``)."""
    import keras
    import numpy as np

    from . import __version__, hardware
    from .downloads import data_dir

    backend = keras.backend.backend()
    versions = {"i2i_keras": __version__, "python": sys.version.split()[0],
                "numpy": np.__version__, "keras": keras.__version__}
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    versions[module] = __import__(module).__version__
    units = [u for u, on in hardware.cpu_units().items() if on]
    device = "GPU" if hardware.has_gpu() else f"CPU ({os.cpu_count()} cores" + (
        f", {' '.join(units)})" if units else ")")
    mode = ("quick" if os.environ.get("I2I_QUICK") == "1" else
            "pretrained" if os.environ.get("I2I_PRETRAINED") == "1" else "full")
    return {**versions, "backend": backend, "device": device,
            "dtype policy": keras.mixed_precision.global_policy().name,
            "data folder": str(data_dir()), "mode": mode}


def print_config() -> None:
    """Print :func:`config` as one aligned block."""
    items = config()
    width = max(len(k) for k in items)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in items.items()))
