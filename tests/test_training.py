import keras
import numpy as np
import pytest

from i2i_keras import datasets, losses, models, phantoms, training


@pytest.fixture(scope="module")
def tiny_data():
    d = phantoms.mr_ct_pairs(range(6), 4, size=32, progress=False, fov_mm=220.0)
    x = datasets.normalize_mr(d["mr"])
    y = datasets.CT_WINDOW.normalize(d["ct"])
    return x, y


def _gan(lr=1e-3):
    keras.utils.set_random_seed(0)
    g = models.unet((32, 32, 1), depth=2, base_filters=8)
    d = models.patchgan((32, 32, 1), n_layers=1, base_filters=8)
    gan = training.Pix2Pix(g, d)
    gan.compile(keras.optimizers.Adam(lr, beta_1=0.5), keras.optimizers.Adam(lr, beta_1=0.5),
                lambda_l1=100.0, gan_loss="lsgan")
    return gan


def test_short_fit_lowers_validation_l1(tiny_data, tmp_path):
    x, y = tiny_data
    train = datasets.paired_dataset(x[:20], y[:20], 4, augment=True, max_shift=2)
    val = datasets.paired_dataset(x[20:], y[20:], 4, shuffle=False)
    gan = _gan()
    before = gan.evaluate(val, verbose=0, return_dict=True)["l1"]
    callbacks = [keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
                 keras.callbacks.EarlyStopping(monitor="val_l1", mode="min", patience=50),
                 keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"),
                                                 monitor="val_l1", mode="min",
                                                 save_best_only=True),
                 training.NaNGuard(), training.TimeBudget(5)]
    history = gan.fit(train, validation_data=val, epochs=8, verbose=0, callbacks=callbacks)
    h = history.history
    assert {"g_loss", "d_loss", "l1", "psnr", "val_l1", "val_psnr"} <= set(h)
    assert min(h["val_l1"]) < 0.6 * before
    assert (tmp_path / "log.csv").read_text().count("\n") == 9
    # The whole trainer reloads from the checkpoint, compiled, and can go on training.
    again = keras.saving.load_model(tmp_path / "best.keras")
    assert isinstance(again, training.Pix2Pix) and again.lambda_l1 == 100.0
    again.fit(train, epochs=1, verbose=0)


def test_generator_saves_and_reloads_alone(tiny_data, tmp_path):
    x, _ = tiny_data
    gan = _gan()
    gan.generator.save(tmp_path / "g.keras")
    g2 = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_array_equal(g2.predict(x[:3, ..., None], verbose=0),
                                  gan.generator.predict(x[:3, ..., None], verbose=0))


def test_nan_guard_stops_training(tiny_data, capsys):
    import tensorflow as tf

    x, y = tiny_data
    bad = y[:8, ..., None].copy()
    bad[0] = np.nan
    ds = tf.data.Dataset.from_tensor_slices((x[:8, ..., None], bad)).batch(4)
    gan = _gan()
    gan.fit(ds, epochs=3, verbose=0, callbacks=[training.NaNGuard()])
    assert "NaNGuard" in capsys.readouterr().out
    assert gan.stop_training


def test_adversarial_losses_have_the_right_minima():
    real, fake = np.full((2, 4, 4, 1), 5.0, "f4"), np.full((2, 4, 4, 1), -5.0, "f4")
    for kind in losses.GAN_LOSSES:
        d_loss, g_loss = losses.adversarial_loss(kind)
        # A discriminator that separates real from fake scores lower than a confused one.
        assert float(d_loss(real, fake)) < float(d_loss(fake, real))
        assert float(g_loss(real)) < float(g_loss(fake))
    with pytest.raises(ValueError):
        losses.adversarial_loss("wasserstein-ish")
    assert float(losses.psnr(np.zeros((1, 4, 4, 1)), np.full((1, 4, 4, 1), 0.02))) == \
        pytest.approx(40.0, abs=1e-3)
