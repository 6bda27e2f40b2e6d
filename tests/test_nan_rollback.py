"""NaNGuard with rollback: a NaN batch in the middle of a fit is undone (the last good
weights and optimizer state restored, the learning rate halved once) and training goes
on; a NaN that comes back stops training with the good weights in place and a message
that names the likely cause."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import models, training

SHAPE = (16, 16, 1)


def _batches(n_batches: int, nan_batches=(), batch_size: int = 2):
    """A tf.data set of n_batches (x, y) batches of 16x16 images, y = -x; the batches
    in nan_batches carry one NaN pixel in x (a corrupt input image)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (n_batches * batch_size,) + SHAPE).astype("float32")
    y = -x
    for b in nan_batches:
        x[b * batch_size, 3, 3, 0] = np.nan
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def _supervised(optimizer=None):
    keras.utils.set_random_seed(0)
    net = training.Supervised(models.unet(SHAPE, depth=1, base_filters=4))
    net.compile(optimizer or keras.optimizers.Adam(1e-3), loss="l1")
    return net


class Spy(keras.callbacks.Callback):
    """The whole training state after every batch (and epoch), as the callbacks before
    it in the list left it."""

    def __init__(self):
        super().__init__()
        self.after_batch, self.after_epoch = [], []

    def _state(self):
        return [np.array(v.numpy()) for v in training.state_variables(self.model)]

    def on_train_batch_end(self, batch, logs=None):
        self.after_batch.append(self._state())

    def on_epoch_end(self, epoch, logs=None):
        self.after_epoch.append(self._state())


def _equal(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


def _finite(state):
    return all(np.isfinite(v).all() for v in state)


def test_a_nan_batch_is_rolled_back_and_training_goes_on_at_half_the_rate(capsys):
    net, spy = _supervised(), Spy()
    # 3 epochs of 4 steps from one stream; its 7th batch (epoch 2, batch 3) is corrupt.
    history = net.fit(_batches(12, nan_batches=[6]), epochs=3, steps_per_epoch=4,
                      verbose=0, callbacks=[training.NaNGuard(), spy])
    out = capsys.readouterr().out
    assert ("NaNGuard: loss became nan at epoch 2, batch 3; restored the weights of the end "
            "of epoch 1, halved the learning rate (now 0.0005) and going on. Likely cause: bad "
            "input: the loss was steady") in out
    assert out.count("NaNGuard") == 1 and not net.stop_training
    # Right after the NaN step, the state is that of the end of epoch 1 (the optimizer's
    # moments and step count too), bar the halved rate; then training went on.
    restored = spy.after_batch[6]
    rate = [i for i, v in enumerate(training.state_variables(net)) if "learning_rate" in v.path]
    assert len(rate) == 1 and float(restored[rate[0]]) == pytest.approx(5e-4)
    assert _equal([v for i, v in enumerate(restored) if i != rate[0]],
                  [v for i, v in enumerate(spy.after_epoch[0]) if i != rate[0]])
    assert int(net.optimizer.iterations) == 12 - 3  # epoch 2's steps up to the NaN undone
    assert not _equal(spy.after_epoch[2], restored) and _finite(spy.after_epoch[2])
    assert len(history.epoch) == 3 and np.isfinite(history.history["loss"]).all()
    assert float(net.optimizer.learning_rate) == pytest.approx(5e-4)


def test_both_gan_optimizers_roll_back_and_their_decaying_rates_halve(capsys):
    keras.utils.set_random_seed(0)
    gan = training.Pix2Pix(models.unet(SHAPE, depth=1, base_filters=4),
                           models.patchgan(SHAPE, n_layers=1, base_filters=4))
    gan.compile(training.adam(1e-3, 12), training.adam(1e-3, 12), lambda_l1=10.0)
    spy = Spy()
    # A snapshot every 2 batches; the 7th batch (epoch 2, batch 3) is corrupt.
    gan.fit(_batches(12, nan_batches=[6]), epochs=3, steps_per_epoch=4, verbose=0,
            callbacks=[training.NaNGuard(every=2), spy])
    out = capsys.readouterr().out
    assert ("at epoch 2, batch 3; restored the weights of epoch 2, batch 2, halved the "
            "learning rate (now 0.00025, 0.00025, half its schedule)") in out
    assert _equal(spy.after_batch[6], spy.after_batch[5])  # the snapshot after 6 batches
    schedule = training.LinearDecay(1e-3, 12)
    for opt in (gan.g_optimizer, gan.d_optimizer):
        assert int(opt.iterations) == 12 - 1  # the NaN step undone
        assert float(opt.learning_rate) == pytest.approx(0.5 * float(schedule(11)))
    assert _finite(spy.after_epoch[2]) and not _equal(spy.after_epoch[2], spy.after_batch[6])


def test_a_nan_that_comes_back_stops_training_with_good_weights(capsys):
    net, spy = _supervised(), Spy()
    # The corrupt batch is in every epoch (a bad image in the data set).
    history = net.fit(_batches(3, nan_batches=[1]), epochs=4, verbose=0,
                      callbacks=[training.NaNGuard(), spy])
    out = capsys.readouterr().out
    assert "at epoch 1, batch 2; restored the weights of the start of training, halved" in out
    assert ("at epoch 2, batch 2, again after halving the learning rate; restored the "
            "weights of the end of epoch 1; training stopped. Likely cause: bad input") in out
    assert net.stop_training and len(history.epoch) == 2
    assert _equal(spy.after_batch[-1], spy.after_epoch[0]) and _finite(spy.after_batch[-1])


def test_without_rollback_it_stops_at_once_naming_the_cause(capsys):
    net = _supervised()
    net.fit(_batches(3, nan_batches=[1]), epochs=2, verbose=0,
            callbacks=[training.NaNGuard(rollback=False)])
    out = capsys.readouterr().out
    assert "NaNGuard: loss became nan at epoch 1, batch 2; training stopped. Likely cause: " \
           "bad input" in out
    assert net.stop_training


def test_a_diverging_loss_is_blamed_on_the_learning_rate(capsys):
    keras.utils.set_random_seed(0)  # a linear filter, a squared loss and a far too high rate
    linear = keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(1, 3, padding="same")])
    net = training.Supervised(linear)
    net.compile(keras.optimizers.SGD(10.0), loss="l2")
    net.fit(_batches(40), epochs=1, verbose=0, callbacks=[training.NaNGuard(rollback=False)])
    assert "Likely cause: learning rate too high: loss grew from" in capsys.readouterr().out


def test_under_float16_the_cause_is_overflow(capsys):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        net = _supervised()
        net.fit(_batches(4, nan_batches=[2]), epochs=1, verbose=0,
                callbacks=[training.NaNGuard()])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    out = capsys.readouterr().out
    assert "halved the learning rate (now 0.0005)" in out
    assert "Likely cause: float16 overflow" in out
