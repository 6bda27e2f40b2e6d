"""The one backend-specific part of training: how a step takes and applies gradients.

The trainers in :mod:`i2i_keras.training` compute their losses with ``keras.ops``, so
the same code runs on TensorFlow, JAX and PyTorch; only the way gradients are taken
differs, and it lives here. A trainer mixes in :class:`GradientSteps` and provides

    _optimizer_groups() -> [(optimizer, variables), ...]     one group per loss
    _train_losses(x, y) -> ([one loss per group], {metric name: value to log})
    _test_values(x, y)  -> {metric name: value to log}

and one ``keras.metrics.Mean`` per logged name in ``metrics``. Each group's optimizer
gets the gradients of that group's loss with respect to that group's variables only
(a GAN: g_loss -> generator, d_loss -> discriminator), all taken at the weights of
the forward pass, then every optimizer applies its own:

- TensorFlow: one (persistent) ``tf.GradientTape`` over the forward pass; under a
  ``tf.distribute`` strategy (MirroredStrategy, MultiWorkerMirroredStrategy) each
  replica's loss is divided by the number of replicas, whose gradients are summed.
  Under a mixed-precision policy the forward pass runs in :class:`CastOncePerStep`.
- PyTorch: ``torch.autograd.grad`` of each loss, then ``optimizer.apply`` without grad.
- JAX: stateless. Keras' ``fit`` hands ``train_step`` the values of all variables
  (trainable, non-trainable, optimizer, metric) and wants the new ones back. The
  forward pass runs in a ``keras.StatelessScope`` under ``jax.vjp``, which gives every
  non-trainable update (batch-norm statistics, the CycleGAN image pool, random seeds)
  and, pulled back once per loss, each group's gradients; each optimizer then steps
  with ``stateless_apply``. The GANs' two optimizers reach Keras as one
  :class:`OptimizerGroup`, whose variables are both optimizers' variables in order.
"""

from __future__ import annotations

import contextlib

import keras

try:  # not in keras' public API; CastOncePerStep extends how Layer.__call__ autocasts
    from keras.src.backend import AutocastScope
except ImportError:  # a Keras that moved it: weights are cast at every call, as in Keras
    AutocastScope = None

BACKENDS = ("tensorflow", "jax", "torch")


class OptimizerGroup:
    """Several optimizers seen by Keras as a trainer's one ``optimizer``.

    ``fit`` reads ``variables`` (on JAX it carries them through the step as state),
    ``built``/``build``, and callbacks read ``iterations`` (TensorBoard: the first
    optimizer's step count) and ``optimizers`` (ReduceLROnPlateau and
    LearningRateScheduler then set each optimizer's rate). Not saved itself: the
    trainers save their optimizers under their own names.
    """

    def __init__(self, groups):
        self._groups = groups  # callable -> [(optimizer, variables), ...]

    @property
    def optimizers(self):
        return [opt for opt, _ in self._groups()]

    @property
    def variables(self):
        return [v for opt in self.optimizers for v in opt.variables]

    @property
    def built(self):
        return all(opt.built for opt in self.optimizers)

    def build(self, var_list=None):
        for opt, variables in self._groups():
            if not opt.built:
                opt.build(variables)

    @property
    def iterations(self):
        return self.optimizers[0].iterations

    def __repr__(self):
        return f"<OptimizerGroup {[opt.name for opt in self.optimizers]}>"


class GradientSteps:
    """Mixin for a ``keras.Model`` trainer: ``train_step`` and ``test_step`` on every
    backend from the trainer's ``_optimizer_groups``, ``_train_losses`` and
    ``_test_values`` (see the module docstring)."""

    def compile(self, optimizer=None, jit_compile=None, **kwargs):
        """keras.Model.compile, where ``jit_compile=None`` means each backend's usual
        compiled step: a TensorFlow graph (no XLA), ``jax.jit`` (without it JAX runs op
        by op) and eager PyTorch; and ``optimizer=None`` (the GANs) means the
        optimizers of ``_optimizer_groups``, seen by Keras as one OptimizerGroup."""
        if jit_compile is None:
            jit_compile = keras.backend.backend() == "jax"
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        if optimizer is None:
            self.optimizer = OptimizerGroup(self._optimizer_groups)

    def train_step(self, *args):  # (data), or (state, data) on JAX
        return _step(_TRAIN, self, args)

    def test_step(self, *args):
        return _step(_TEST, self, args)

    def _log(self, values):
        """Update the tracker of each logged value; return what fit shows."""
        trackers = {m.name: m for m in self.metrics}
        for name, value in values.items():
            trackers[name].update_state(value)
        return {name: trackers[name].result() for name in values}


def _step(table, model, args):
    backend = keras.backend.backend()
    if backend not in table:
        raise NotImplementedError(f"i2i_keras trains on {BACKENDS}, not on {backend!r}")
    return table[backend](model, *args)


def _unpack(data):
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    # train_on_batch may hand PyTorch NumPy arrays as they are.
    return keras.tree.map_structure(keras.ops.convert_to_tensor, (x, y))


def loss_scaled(optimizer):
    """``optimizer`` in a ``keras.optimizers.LossScaleOptimizer`` under the
    "mixed_float16" policy (float16 gradients underflow without one), else as it is.
    Keras wraps the optimizer given to ``Model.compile`` itself; a GAN's two optimizers
    reach our ``compile`` under their own names, so the trainers call this."""
    if (keras.mixed_precision.global_policy().name == "mixed_float16"
            and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


class CastOncePerStep(AutocastScope or object):
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

    On the CycleGAN step of ``benchmarks/trainer_speed.py`` (128², mixed_bfloat16, the
    2-core machine of the README) TensorFlow's profiler counted 366 ms of casts a step;
    cast once, the step went from 1241 to 1091 ms in back-to-back runs (pix2pix 256²:
    520 -> 474 ms). Used on TensorFlow, where that was measured.
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
        if AutocastScope is None or policy.compute_dtype == policy.variable_dtype:
            return contextlib.nullcontext()
        return cls(policy.compute_dtype)


# -- TensorFlow ------------------------------------------------------------------------

def _tf_train(model, data):
    import tensorflow as tf

    groups = model._optimizer_groups()
    # Under tf.distribute each replica sees its share of the batch and the optimizers
    # sum the replicas' gradients: divide each replica's loss by their number.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape(persistent=len(groups) > 1) as tape:
        with CastOncePerStep.for_policy(model.dtype_policy):
            losses, values = model._train_losses(*_unpack(data))
        scaled = [opt.scale_loss(loss / replicas if replicas > 1 else loss)
                  for (opt, _), loss in zip(groups, losses)]
    for (opt, variables), loss in zip(groups, scaled):
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
    del tape
    return model._log(values)


def _eager_test(model, data):
    return model._log(model._test_values(*_unpack(data)))


# -- PyTorch ---------------------------------------------------------------------------

def _torch_train(model, data):
    import torch

    groups = model._optimizer_groups()
    losses, values = model._train_losses(*_unpack(data))
    grads = []
    for k, ((opt, variables), loss) in enumerate(zip(groups, losses)):
        params = [v.value for v in variables]
        g = torch.autograd.grad(opt.scale_loss(loss), params, allow_unused=True,
                                retain_graph=k < len(groups) - 1)
        grads.append([torch.zeros_like(p) if gi is None else gi for gi, p in zip(g, params)])
    with torch.no_grad():  # every gradient is taken before any weight moves
        for (opt, variables), g in zip(groups, grads):
            opt.apply(g, variables)
        return model._log(values)


def _torch_test(model, data):
    import torch

    with torch.no_grad():
        return _eager_test(model, data)


# -- JAX -------------------------------------------------------------------------------

def _current(scope, variables, old):
    """The values a StatelessScope ended with (the old ones where nothing was assigned)."""
    new = [scope.get_current_value(v) for v in variables]
    return [o if n is None else n for n, o in zip(new, old)]


def _jax_log(model, values, metrics_values):
    mapping = list(zip(model.metrics_variables, metrics_values))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = model._log(values)
    return logs, _current(scope, model.metrics_variables, metrics_values)


def _jax_train(model, state, data):
    import jax
    import jax.numpy as jnp

    trainable, non_trainable, optimizer_values, metrics_values = state
    x, y = _unpack(data)
    groups = model._optimizer_groups()
    optimizers = [opt for opt, _ in groups]
    optimizer_variables = [v for opt in optimizers for v in opt.variables]
    if len(optimizer_variables) != len(optimizer_values):
        raise RuntimeError("the trainer's optimizer does not hold its groups' variables")

    def forward(trainable):
        mapping = [*zip(model.trainable_variables, trainable),
                   *zip(model.non_trainable_variables, non_trainable),
                   *zip(optimizer_variables, optimizer_values)]  # e.g. a loss scale
        with keras.StatelessScope(state_mapping=mapping) as scope:
            losses, values = model._train_losses(x, y)
            scaled = [opt.scale_loss(loss) for opt, loss in zip(optimizers, losses)]
        return scaled, (values, _current(scope, model.non_trainable_variables, non_trainable))

    scaled, pullback, (values, non_trainable) = jax.vjp(forward, list(trainable), has_aux=True)
    position = {id(v): i for i, v in enumerate(model.trainable_variables)}
    trainable, new_optimizer_values, start = list(trainable), [], 0
    for k, (opt, variables) in enumerate(groups):
        # d(loss k)/d(all weights); jit drops what group k does not use.
        (grads,) = pullback([jnp.ones_like(s) if j == k else jnp.zeros_like(s)
                             for j, s in enumerate(scaled)])
        index = [position[id(v)] for v in variables]
        n = len(opt.variables)
        new_weights, new_state = opt.stateless_apply(
            optimizer_values[start:start + n], [grads[i] for i in index],
            [trainable[i] for i in index])
        start += n
        for i, w in zip(index, new_weights):
            trainable[i] = w
        new_optimizer_values += list(new_state)
    logs, metrics_values = _jax_log(model, values, metrics_values)
    return logs, (trainable, non_trainable, new_optimizer_values, metrics_values)


def _jax_test(model, state, data):
    trainable, non_trainable, metrics_values = state
    mapping = [*zip(model.trainable_variables, trainable),
               *zip(model.non_trainable_variables, non_trainable),
               *zip(model.metrics_variables, metrics_values)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = model._log(model._test_values(*_unpack(data)))
    return logs, (trainable, _current(scope, model.non_trainable_variables, non_trainable),
                  _current(scope, model.metrics_variables, metrics_values))


_TRAIN = {"tensorflow": _tf_train, "torch": _torch_train, "jax": _jax_train}
_TEST = {"tensorflow": _eager_test, "torch": _torch_test, "jax": _jax_test}


# -- A fused Adam for TensorFlow -------------------------------------------------------

@keras.saving.register_keras_serializable(package="i2i_keras")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose update of each variable is one fused kernel on
    TensorFlow (``ResourceApplyAdam``: m, v and the weight in one pass over memory).

    Keras writes Adam's update as a dozen element-wise ops, each a full pass over the
    weights; TensorFlow without XLA runs them one by one. For pix2pix's 57 M-parameter
    U-Net-256 + PatchGAN the update alone took 168 ms a step, fused 58 ms, on the 2-core
    machine of the README (``benchmarks/trainer_speed.py`` times the whole step). Same
    arithmetic as Keras' Adam (bias-corrected rate, epsilon outside the square root).
    Other backends, AMSGrad and sparse gradients take Keras' own update (JAX's ``jit``
    fuses it; Keras' PyTorch Adam is already fused, so :func:`i2i_keras.training.adam`
    returns plain Keras Adam there).
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
