"""Speed settings that must not change the results: the fused Adam, float32 outputs
under mixed precision, loss scaling of the GANs' optimizers under float16."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import models, training


def _adam_weights(cls, steps=4):
    rng = np.random.default_rng(0)
    weights = [keras.Variable(rng.normal(size=s).astype("float32")) for s in [(3, 3, 2, 4), (4,)]]
    opt = cls(training.LinearDecay(1e-2, 10, hold_steps=2), beta_1=0.5)
    for _ in range(steps):
        grads = [tf.constant(rng.normal(size=w.shape).astype("float32")) for w in weights]
        opt.apply_gradients(zip(grads, weights))
    return [w.numpy() for w in weights], int(opt.iterations.numpy())


def test_fused_adam_takes_the_same_steps_as_keras_adam():
    fused, n_fused = _adam_weights(training.FusedAdam)
    plain, n_plain = _adam_weights(keras.optimizers.Adam)
    assert n_fused == n_plain == 4
    for a, b in zip(fused, plain):
        assert np.abs(a - b).max() < 1e-6
        assert np.abs(b).max() > 0.01  # the weights are not trivially zero


def test_adam_helper_is_fused_on_tensorflow_and_round_trips():
    opt = training.adam(2e-4, total_steps=100, hold_fraction=0.5)
    assert isinstance(opt, training.FusedAdam)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert type(again) is training.FusedAdam and again.beta_1 == 0.5


@pytest.fixture
def policy():
    def use(name):
        keras.mixed_precision.set_global_policy(name)
    yield use
    keras.mixed_precision.set_global_policy("float32")


def test_networks_compute_their_output_in_float32_under_mixed_bfloat16(policy):
    policy("mixed_bfloat16")
    shape = (32, 32, 1)
    nets = [models.unet(shape, depth=2, base_filters=4),
            models.unet(shape, depth=2, base_filters=4, residual=True),
            models.resnet_generator(shape, base_filters=4, n_blocks=1),
            models.patchgan(shape, n_layers=2, base_filters=4),
            models.srcnn((32, 32, 1), residual=True)]
    x = np.random.default_rng(0).uniform(-1, 1, (1, *shape)).astype("float32")
    for net in nets:
        inner = [la for la in net.layers if isinstance(la, keras.layers.Conv2D)][0]
        assert inner.compute_dtype == "bfloat16", net.name  # the body is mixed...
        inputs = [x, x] if len(net.inputs) == 2 else x
        out = keras.ops.convert_to_tensor(net(inputs))
        assert out.dtype == "float32", net.name  # ...not the output


def test_gan_optimizers_are_loss_scaled_under_float16(policy):
    policy("mixed_float16")
    shape = (16, 16, 1)
    gan = training.Pix2Pix(models.unet(shape, depth=2, base_filters=4),
                           models.patchgan(shape, n_layers=1, base_filters=4))
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    cycle = training.CycleGAN(*(models.unet(shape, depth=2, base_filters=4) for _ in "ab"),
                              *(models.patchgan(shape, n_layers=1, base_filters=4,
                                                conditional=False) for _ in "ab"))
    cycle.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(0).uniform(-1, 1, (2, *shape)).astype("float32")
    for trainer in (gan, cycle):
        for opt in (trainer.g_optimizer, trainer.d_optimizer):
            assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
        logs = trainer.fit(x, x, epochs=1, batch_size=2, verbose=0).history
        assert all(np.isfinite(v[-1]) for v in logs.values()), logs
