"""The MR → CT pix2pix recipe of tutorials 00, 03 and 04: its settings, sized to the
machine, and the trainer they build.

>>> from i2i_keras import recipes
>>> s = recipes.Settings.for_hardware(quick=True)
>>> s.mode, s.size, s.epochs
('quick', 64, 2)
>>> recipes.Settings(size=128, epochs=10).size  # every field by keyword
128
"""

from __future__ import annotations

import dataclasses
import os


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything an MR → CT run depends on; the defaults are the 2-core CPU's full mode.
    Change a field with ``dataclasses.replace(s, epochs=...)``."""

    mode: str = "cpu"  # "quick", "cpu" or "gpu"
    size: int = 64  # image side, pixels (field of view 220 mm)
    patients: int = 120  # phantom patients, split 70/15/15 into train/val/test
    slices_per_patient: int = 8
    depth: int = 3  # U-Net down-samplings
    base_filters: int = 16  # U-Net filters at full resolution
    d_layers: int = 2  # PatchGAN stride-2 layers (receptive field 16/34/70)
    d_filters: int = 32
    batch_size: int = 4
    epochs: int = 36
    learning_rate: float = 4e-4  # Adam, decayed linearly to zero over the run
    lambda_l1: float = 100.0
    minutes: float = 12.0  # hard stop, whatever the machine
    seed: int = 0
    # Keras dtype policy. On a GPU, hardware.recommended_policy() (mixed float16). On a
    # CPU float32 even where it has bfloat16 units: at these 64² sizes mixed bfloat16 made
    # the pix2pix step only 1.1x and the CycleGAN step 1.03x faster (2-core Xeon with
    # AMX, 2026-11-30), not worth rounding every activation to 8 significant bits.
    precision: str = "float32"

    @classmethod
    def for_hardware(cls, quick: bool | None = None) -> Settings:
        """Settings sized to the machine: seconds in quick mode (``I2I_QUICK=1``), about
        ten minutes on a 2-core CPU (64² images, a 0.5 M-parameter U-Net), and 256²
        images with a wider, deeper U-Net in mixed precision when the Keras backend sees
        a GPU; with ``I2I_PRETRAINED=1``, the CPU full run's settings, whose weights ship."""
        from . import pretrained

        if quick is None:
            quick = os.environ.get("I2I_QUICK") == "1"
        if pretrained.wanted() and not quick:
            return cls()  # the shipped weights are those of the CPU full run
        if quick:
            return cls(mode="quick", patients=10, slices_per_patient=4, base_filters=8,
                       d_filters=8, epochs=2, minutes=1.0)
        from .hardware import has_gpu, recommended_policy

        if has_gpu():
            return cls(mode="gpu", size=256, patients=200, slices_per_patient=12, depth=5,
                       base_filters=32, d_layers=3, d_filters=64, batch_size=8, epochs=60,
                       learning_rate=2e-4, minutes=30.0,
                       precision=recommended_policy(gpu=True))
        return cls()


def build_pix2pix(s: Settings, steps_per_epoch: int, **compile_options):
    """The generator (U-Net, instance norm, tanh output), the conditional PatchGAN and
    the compiled :class:`~i2i_keras.training.Pix2Pix`: Adam (beta_1 0.5) for both, the
    rate decayed linearly to 0 over ``s.epochs * steps_per_epoch`` steps, vanilla GAN
    loss and ``s.lambda_l1`` x L1. ``compile_options`` go to ``compile`` (e.g.
    ``steps_per_execution``)."""
    from . import models, training

    shape = (s.size, s.size, 1)
    generator = models.unet(shape, depth=s.depth, base_filters=s.base_filters, norm="instance")
    discriminator = models.patchgan(shape, n_layers=s.d_layers, base_filters=s.d_filters)
    gan = training.Pix2Pix(generator, discriminator)
    total = s.epochs * steps_per_epoch
    gan.compile(training.adam(s.learning_rate, total), training.adam(s.learning_rate, total),
                lambda_l1=s.lambda_l1, gan_loss="vanilla", **compile_options)
    return gan
