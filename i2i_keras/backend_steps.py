"""The training step on JAX and PyTorch: the same losses, gradients taken their way.

The trainers of :mod:`i2i_keras.training` compute their losses with ``keras.ops``
(``compute_losses``), so the same code runs on TensorFlow, JAX and PyTorch; their
``train_step`` is written out for TensorFlow and hands the other two backends here.
Each trainer says which optimizer updates which weights with ``optimizer_groups()``
(a GAN: g_loss -> generator, d_loss -> discriminator); every group's gradients are
taken at the weights of the forward pass, then each optimizer applies its own.

- PyTorch (as keras-io's "Customizing what happens in fit() with PyTorch"):
  ``torch.autograd.grad`` of each loss, then ``optimizer.apply`` without grad.
- JAX (as keras-io's "Customizing what happens in fit() with JAX"): stateless. Keras'
  ``fit`` hands ``train_step`` the values of all variables (trainable, non-trainable,
  optimizer, metric) and wants the new ones back. The forward pass runs in a
  ``keras.StatelessScope`` under ``jax.vjp``, which gives every non-trainable update
  (batch-norm statistics, the CycleGAN image pool, random seeds) and, pulled back once
  per loss, each group's gradients (the guide's ``stateless_call`` does the same for
  one network; a GAN has several); each optimizer then steps with
  ``stateless_apply``. The GANs' two optimizers reach Keras as one
  :class:`OptimizerGroup`, whose variables are both optimizers' variables in order.

A trainer with ``n_critic > 1`` (WGAN) first updates its discriminator group (the
second) alone ``n_critic - 1`` times on the same batch, then takes the full step: the
same order as the TensorFlow step's loop.
"""

from __future__ import annotations

import keras

BACKENDS = ("tensorflow", "jax", "torch")


def unpack(data):
    """(x, y) of a batch as tensors (``fit`` may hand PyTorch NumPy arrays as they are)."""
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    return keras.tree.map_structure(keras.ops.convert_to_tensor, (x, y))


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


def train_step(model, *args):
    """``model``'s training step on JAX (args: state, data) or PyTorch (args: data)."""
    backend = keras.backend.backend()
    extra_critic_steps = getattr(model, "n_critic", 1) - 1
    if backend == "jax":
        state, data = args
        for _ in range(extra_critic_steps):  # the discriminator (group 1) alone
            _, state = jax_train_step(model, state, data, update=(1,))
        return jax_train_step(model, state, data)
    if backend == "torch":
        for _ in range(extra_critic_steps):
            torch_train_step(model, *args, update=(1,))
        return torch_train_step(model, *args)
    raise NotImplementedError(f"i2i_keras trains on {BACKENDS}, not on {backend!r}")


# -- PyTorch ---------------------------------------------------------------------------

def torch_train_step(model, data, update=None):
    """One step on PyTorch: every loss's gradients, then every optimizer's update.
    ``update``: the indices of the groups to update (default all); a partial step
    (WGAN's extra critic updates) logs nothing."""
    import torch

    groups = model.optimizer_groups()
    losses, logs = model.compute_losses(*unpack(data))
    active = range(len(groups)) if update is None else update
    grads = {}
    for k in active:
        (opt, variables), loss = groups[k], losses[k]
        params = [v.value for v in variables]
        g = torch.autograd.grad(opt.scale_loss(loss), params, allow_unused=True,
                                retain_graph=k != active[-1])
        grads[k] = [torch.zeros_like(p) if gi is None else gi for gi, p in zip(g, params)]
    with torch.no_grad():  # every gradient is taken before any weight moves
        for k, g in grads.items():
            groups[k][0].apply(g, groups[k][1])
        return model.log(logs) if update is None else None


# -- JAX -------------------------------------------------------------------------------

def _current(scope, variables, old):
    """The values a StatelessScope ended with (the old ones where nothing was assigned)."""
    new = [scope.get_current_value(v) for v in variables]
    return [o if n is None else n for n, o in zip(new, old)]


def _jax_log(model, values, metrics_values):
    mapping = list(zip(model.metrics_variables, metrics_values))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = model.log(values)
    return logs, _current(scope, model.metrics_variables, metrics_values)


def jax_train_step(model, state, data, update=None):
    """One step on JAX: new values of every variable from their values in ``state``.
    ``update``: the indices of the groups to update (default all; the others keep their
    weights and optimizer state); a partial step (WGAN's extra critic updates) logs
    nothing."""
    import jax
    import jax.numpy as jnp

    trainable, non_trainable, optimizer_values, metrics_values = state
    x, y = unpack(data)
    groups = model.optimizer_groups()
    optimizers = [opt for opt, _ in groups]
    optimizer_variables = [v for opt in optimizers for v in opt.variables]
    if len(optimizer_variables) != len(optimizer_values):
        raise RuntimeError("the trainer's optimizer does not hold its groups' variables")

    def forward(trainable):
        mapping = [*zip(model.trainable_variables, trainable),
                   *zip(model.non_trainable_variables, non_trainable),
                   *zip(optimizer_variables, optimizer_values)]  # e.g. a loss scale
        with keras.StatelessScope(state_mapping=mapping) as scope:
            losses, values = model.compute_losses(x, y)
            scaled = [opt.scale_loss(loss) for opt, loss in zip(optimizers, losses)]
        return scaled, (values, _current(scope, model.non_trainable_variables, non_trainable))

    scaled, pullback, (values, non_trainable) = jax.vjp(forward, list(trainable), has_aux=True)
    position = {id(v): i for i, v in enumerate(model.trainable_variables)}
    trainable, new_optimizer_values, start = list(trainable), [], 0
    for k, (opt, variables) in enumerate(groups):
        n = len(opt.variables)
        if update is not None and k not in update:  # this group sits the step out
            new_optimizer_values += list(optimizer_values[start:start + n])
            start += n
            continue
        # d(loss k)/d(all weights); jit drops what group k does not use.
        (grads,) = pullback([jnp.ones_like(s) if j == k else jnp.zeros_like(s)
                             for j, s in enumerate(scaled)])
        index = [position[id(v)] for v in variables]
        new_weights, new_state = opt.stateless_apply(
            optimizer_values[start:start + n], [grads[i] for i in index],
            [trainable[i] for i in index])
        start += n
        for i, w in zip(index, new_weights):
            trainable[i] = w
        new_optimizer_values += list(new_state)
    logs, metrics_values = ({}, metrics_values) if update is not None else _jax_log(
        model, values, metrics_values)
    return logs, (trainable, non_trainable, new_optimizer_values, metrics_values)


def jax_test_step(model, state, data):
    """The validation step on JAX: logs, and the new metric (and state) values."""
    trainable, non_trainable, metrics_values = state
    mapping = [*zip(model.trainable_variables, trainable),
               *zip(model.non_trainable_variables, non_trainable),
               *zip(model.metrics_variables, metrics_values)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = model.log(model.test_values(*unpack(data)))
    return logs, (trainable, _current(scope, model.non_trainable_variables, non_trainable),
                  _current(scope, model.metrics_variables, metrics_values))
