"""Opt-in speed-ups that reach into Keras internals: off by default, checked against the
installed Keras when switched on.

Nothing in the tutorials needs them: at their 64² sizes in float32 neither pays. They
matter for big networks (the pix2pix paper's 57 M-parameter U-Net-256) and for mixed
precision, and ``benchmarks/trainer_speed.py`` measures them. Each relies on something
Keras does not promise to keep, so :func:`check_keras` refuses, with a clear error, a
Keras it was not tested with rather than falling back silently: importing this module
is the opt-in, and the check runs then.

- :class:`FusedAdam`: Adam whose update of each weight is one TensorFlow kernel
  (reads the optimizer's private ``_momentums`` / ``_velocities``).
- :class:`CastOncePerStep`: under a mixed-precision policy, each trainable weight cast
  to the compute dtype once per step instead of at every layer call (extends
  ``keras.src.backend.AutocastScope``). :func:`cast_once_per_step` switches it on for
  one trainer.

>>> import keras
>>> from i2i_keras import models, speedups, training
>>> gen = models.unet((32, 32, 1), depth=2, base_filters=4)
>>> net = training.Supervised(gen)
>>> net.compile(speedups.FusedAdam(1e-3))
>>> speedups.cast_once_per_step(net)  # a no-op under float32, as here
"""

from __future__ import annotations

import contextlib

import keras

# Keras releases these internals were checked with (tests/test_precision.py runs on
# the installed one; the floor-versions job on the oldest the project supports).
TESTED_KERAS = ((3, 13), (3, 15))


def _keras_version() -> tuple[int, int]:
    major, minor = keras.__version__.split(".")[:2]
    return int(major), int(minor)


def check_keras() -> None:
    """Raise RuntimeError, saying what to do, when the installed Keras is outside the
    releases these speed-ups were tested with or lacks the internals they use."""
    version = _keras_version()
    low, high = TESTED_KERAS
    problem = None
    if not low <= version <= high:
        problem = (f"Keras {keras.__version__} is outside the releases they were tested "
                   f"with ({low[0]}.{low[1]} to {high[0]}.{high[1]})")
    else:
        try:
            from keras.src.backend import AutocastScope  # noqa: F401
        except ImportError:
            problem = f"Keras {keras.__version__} has no keras.src.backend.AutocastScope"
        adam = keras.optimizers.Adam(1e-3)
        adam.build([keras.Variable(0.0)])
        if problem is None and not hasattr(adam, "_momentums"):
            problem = f"Keras {keras.__version__}'s Adam keeps no _momentums"
    if problem:
        raise RuntimeError(f"i2i_keras.speedups cannot be used: {problem}. Train without "
                           "them (keras.optimizers.Adam, no cast_once_per_step): results "
                           "are the same, only slower.")


check_keras()  # importing this module is the opt-in: refuse an untested Keras here
from keras.src.backend import AutocastScope  # noqa: E402  (not in Keras' public API)

# -- one cast of each weight per step ----------------------------------------------------

class CastOncePerStep(AutocastScope):
    """Under a mixed-precision policy, each trainable weight cast to the compute dtype
    once per training step, however many times its layer runs.

    Keras casts a layer's float32 weights to bfloat16/float16 every time the layer is
    called. A GAN step calls its networks more than once: pix2pix's discriminator on the
    real and on the fake pair, each CycleGAN generator on its input and on the other
    generator's output. Inside this scope the first cast of a trainable weight is kept
    and every later pass of the step uses that copy, so the weight's gradients from all
    passes add up in the compute dtype and are cast back to float32 once. Keras' own
    per-call scope gives way to an enclosing scope of the same dtype
    (``keras.Layer.__call__``), which is what lets this one reach every layer; layers
    computing in another dtype (the float32 output layers) open their own as before.
    Only trainable weights are shared: they do not change during the forward pass
    (non-trainable state such as the CycleGAN image pool is written mid-pass).

    On the CycleGAN step of ``benchmarks/trainer_speed.py`` (128², mixed_bfloat16, a
    2-core Xeon with AMX, 2026-11-30) TensorFlow's profiler counted 366 ms of casts a
    step; cast once, the step went from 1241 to 1091 ms in back-to-back runs (pix2pix
    256²: 520 -> 474 ms). Used on TensorFlow, where that was measured.
    """

    def __init__(self, dtype):
        super().__init__(dtype)
        self._copies = {}  # id(backend variable) -> (variable, its cast copy)

    def maybe_cast(self, value):
        if not getattr(value, "trainable", False):
            return super().maybe_cast(value)
        key = id(value)
        if key not in self._copies:  # keep the variable too, so its id stays its own
            self._copies[key] = (value, super().maybe_cast(value))
        return self._copies[key][1]

    @classmethod
    def for_policy(cls, policy):
        """This scope under a mixed dtype policy; otherwise a scope that does nothing.
        Give it the trainer's own policy (``model.dtype_policy``, the global one when the
        trainer was made): Keras keeps the global policy per thread, and tf.distribute
        runs each replica's step in a thread of its own, where it reads float32."""
        if policy.compute_dtype == policy.variable_dtype:
            return contextlib.nullcontext()
        return cls(policy.compute_dtype)


def cast_once_per_step(trainer: keras.Model) -> None:
    """Switch :class:`CastOncePerStep` on for ``trainer`` (a :mod:`i2i_keras.training`
    trainer): its TensorFlow step then runs its forward pass in that scope. Checks the
    installed Keras when this module is imported (:func:`check_keras`)."""
    trainer.forward_scope = lambda: CastOncePerStep.for_policy(trainer.dtype_policy)


# -- a fused Adam for TensorFlow ---------------------------------------------------------

@keras.saving.register_keras_serializable(package="i2i_keras")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose update of each variable is one fused kernel on
    TensorFlow (``ResourceApplyAdam``: m, v and the weight in one pass over memory).

    Keras writes Adam's update as a dozen element-wise ops, each a full pass over the
    weights; TensorFlow without XLA runs them one by one. For pix2pix's 57 M-parameter
    U-Net-256 + PatchGAN the update alone took 168 ms a step, fused 58 ms, on a 2-core
    Xeon (2026-11-30; ``benchmarks/trainer_speed.py`` times the whole step). Same
    arithmetic as Keras' Adam (bias-corrected rate, epsilon outside the square root).
    Other backends, AMSGrad and sparse gradients take Keras' own update (JAX's ``jit``
    fuses it; Keras' PyTorch Adam is already fused).
    """

    def update_step(self, gradient, variable, learning_rate):
        if keras.backend.backend() != "tensorflow" or self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf  # only here: JAX or PyTorch may run without TensorFlow

        if isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        var = variable.value if isinstance(variable, keras.Variable) else variable
        dtype = var.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=var.handle, m=m.value.handle, v=v.value.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))
