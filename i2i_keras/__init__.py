"""i2i_keras: medical image-to-image translation with Keras 3, taught through notebooks.

    import i2i_keras as i2i
    head = i2i.phantoms.head_slice(128, seed=0)
    g = i2i.models.unet((128, 128, 1))

Submodules load on first use, so the NumPy-only parts (phantoms, physics, io) do not
start TensorFlow.
"""

import importlib
import warnings

# Some dependencies import tqdm.auto, which warns in notebooks without ipywidgets; our
# progress bars are plain text on purpose (they stay readable in a saved notebook).
warnings.filterwarnings("ignore", message="IProgress not found")

__version__ = "0.1.0"

# speedups is opt-in: it loads (and checks the installed Keras) only when asked for.
_SUBMODULES = ("backend_steps", "baselines", "claims", "datasets", "downloads", "environment",
               "gan_health", "hardware", "io", "loaders", "losses", "metrics", "models", "phantoms",
               "physics", "pretrained", "quickstart", "recipes", "recon", "speedups", "training",
               "tutorials", "viz")
_SUBMODULES += ("structure", "uncertainty")  # tutorial 07: what a translation gets wrong
_SUBMODULES += ("inference", "translate", "volumes")  # tutorial 08: your own data
_SUBMODULES += ("batches", "body", "domains")  # no-TF pipelines; limbs; randomisation
__all__ = [*_SUBMODULES, "print_config"]


def print_config() -> None:
    """Versions, Keras backend, device, dtype policy, data folder and mode, one per line
    (:func:`i2i_keras.environment.print_config`)."""
    from .environment import print_config

    print_config()


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'i2i_keras' has no attribute {name!r}")
