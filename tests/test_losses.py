import keras
import numpy as np
import pytest
import tensorflow as tf
from skimage.metrics import structural_similarity

from i2i_keras import datasets, losses, phantoms


@pytest.fixture(scope="module")
def ct_pair():
    """A textured phantom CT in [-1, 1] (soft-tissue window) and a noisy copy."""
    head = phantoms.head_slice(64, seed=1)
    window = datasets.IntensityWindow(-160.0, 240.0)
    clean = np.clip(window.normalize(head.hu), -1, 1)
    noisy = np.clip(window.normalize(head.ct(noise_hu=15.0, seed=0)), -1, 1)
    return clean[None, ..., None], noisy[None, ..., None]


def test_ssim_matches_scikit_image(ct_pair):
    clean, noisy = ct_pair
    rng = np.random.default_rng(0)
    smooth = np.tanh(noisy + 0.3 * rng.normal(size=noisy.shape)).astype("float32")
    for a, b in ((clean, noisy), (clean, smooth), (noisy, smooth)):
        ref = structural_similarity(a[0, ..., 0].astype(np.float64), b[0, ..., 0],
                                    data_range=2.0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False)
        assert float(losses.ssim(a, b)) == pytest.approx(ref, abs=2e-4)
    # Batches, channels and (B, H, W) inputs average the same way.
    both = np.concatenate([noisy, smooth])
    ref = np.mean([float(losses.ssim(clean, x[None])) for x in both])
    assert float(losses.ssim(np.concatenate([clean, clean]), both)) == pytest.approx(ref, 1e-6)
    assert float(losses.ssim(clean[..., 0], noisy[..., 0])) == \
        pytest.approx(float(losses.ssim(clean, noisy)), abs=1e-6)
    two = np.concatenate([clean, noisy], axis=-1)
    assert float(losses.ssim(two, two)) == pytest.approx(1.0, abs=1e-6)
    assert float(losses.ssim_loss(clean, clean)) == pytest.approx(0.0, abs=1e-6)


def test_ssim_loss_is_differentiable_and_improves_under_descent(ct_pair):
    clean, noisy = ct_pair
    x = tf.Variable(noisy)
    before = float(losses.ssim_loss(clean, x))
    opt = keras.optimizers.SGD(20.0)
    for _ in range(10):
        with tf.GradientTape() as tape:
            loss = losses.ssim_loss(clean, x)
        opt.apply_gradients([(tape.gradient(loss, x), x)])
    assert float(losses.ssim_loss(clean, x)) < 0.8 * before


def test_gradient_difference_values():
    t = np.zeros((1, 8, 8, 1), "float32")
    t[:, :, 4:] = 1.0  # one vertical edge: 8 of the 8 x 7 horizontal differences are 1
    assert float(losses.gradient_difference(t, 0.5 * t)) == pytest.approx(0.5 / 7)
    assert float(losses.gradient_difference(t, t + 3.0)) == 0.0  # offsets do not count
    assert float(losses.gradient_difference(t, np.transpose(t, (0, 2, 1, 3)))) == \
        pytest.approx(2 / 7)  # the edge moved to the other direction


def test_high_frequency_energy_loss_matches_the_sharpness_metric(ct_pair):
    """Its RMS is the metric's fraction times the contrast energy (Parseval), per image;
    blurring the truth costs, adding the truth's own high band back does not."""
    from scipy import ndimage

    from i2i_keras import metrics

    clean, noisy = ct_pair
    both = np.concatenate([clean, noisy]).astype("float32")
    contrast = both[..., 0] - both[..., 0].mean(axis=(1, 2), keepdims=True)
    rms = [np.sqrt(metrics.high_frequency_energy(c) * np.mean(c**2)) for c in contrast]
    zero = np.zeros_like(both) + 0.3  # a flat image has no high band
    assert float(losses.high_frequency_energy(both, zero)) == pytest.approx(np.mean(rms), rel=1e-4)
    blurred = ndimage.gaussian_filter(clean, (0, 1.5, 1.5, 0)).astype("float32")
    assert float(losses.high_frequency_energy(clean, blurred)) > 0.5 * rms[0]
    assert float(losses.high_frequency_energy(clean, -clean)) == pytest.approx(0.0, abs=1e-6)
    x = tf.Variable(blurred)  # descent on it sharpens: the prediction's high band grows
    with tf.GradientTape() as tape:
        value = losses.get({"high_frequency_energy": 1.0})(tf.constant(clean), x)
    x.assign_sub(0.5 * tape.gradient(value, x))
    assert metrics.high_frequency_energy(x.numpy()[0, ..., 0]) > \
        metrics.high_frequency_energy(blurred[0, ..., 0])
    with pytest.raises(ValueError, match="known size"):
        losses.high_frequency_energy(tf.zeros((1, 8, 8, 1)),
                                     keras.KerasTensor((1, None, None, 1)))


def test_windowed_l1_is_the_l1_a_reader_sees_in_the_window():
    rng = np.random.default_rng(0)
    y, p = (rng.normal(0, 1.5, (2, 8, 8, 1)).astype("float32") for _ in range(2))
    soft = losses.WindowedL1(-0.5, 0.5)
    expected = np.abs(np.clip(y, -0.5, 0.5) - np.clip(p, -0.5, 0.5)).mean()
    assert float(soft(y, p)) == pytest.approx(expected, rel=1e-6)
    assert float(soft(y, p)) < float(losses.l1(y, p))
    # no gradient where prediction and truth are beyond the same edge of the window
    x = tf.Variable(p)
    with tf.GradientTape() as tape:
        value = soft(tf.constant(y), x)
    grad = tape.gradient(value, x).numpy()
    same_side = ((y > 0.5) & (p > 0.5)) | ((y < -0.5) & (p < -0.5))
    assert same_side.any() and not grad[same_side].any() and grad[~same_side].any()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(soft))
    assert float(restored(y, p)) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="low < high"):
        losses.WindowedL1(0.5, -0.5)


def test_loss_names_and_mixes():
    y, p = np.zeros((1, 16, 16, 1), "float32"), np.full((1, 16, 16, 1), 0.5, "float32")
    assert float(losses.get("l1")(y, p)) == pytest.approx(0.5)
    assert float(losses.get({"l1": 2.0, "l2": 4.0})(y, p)) == pytest.approx(2.0)
    assert losses.get(losses.l2) is losses.l2
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get("l3")
    with pytest.raises(TypeError):
        losses.get(3)


def test_shipped_feature_net_is_small_and_packaged():
    import tomllib
    from pathlib import Path

    path = losses.FEATURE_NET_PATH
    assert path.is_file() and path.stat().st_size < 2 * 1024 ** 2
    net = keras.saving.load_model(path, compile=False)
    assert 50_000 <= net.count_params() <= 200_000
    assert all(net.get_layer(n) for n in losses.FEATURE_NET_LAYERS)
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml")
                              .read_text())
    assert "weights/*.keras" in pyproject["tool"]["setuptools"]["package-data"]["i2i_keras"]


def test_perceptual_loss_default_network(ct_pair):
    clean, noisy = ct_pair
    loss = losses.PerceptualLoss()
    assert float(loss(clean, clean)) == 0.0
    half = clean + 0.5 * (noisy - clean)
    assert 0.0 < float(loss(clean, half)) < float(loss(clean, noisy))
    x = tf.Variable(noisy)
    with tf.GradientTape() as tape:
        value = loss(clean, x)
    grad = tape.gradient(value, x)
    assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 0
    assert not loss.model.trainable_variables  # the feature network stays frozen
    # It saves and restores by its config (the shipped network is found again).
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert float(again(clean, noisy)) == pytest.approx(float(loss(clean, noisy)), rel=1e-6)


def test_perceptual_loss_punishes_blur_more_than_noise():
    """What a feature loss is for: relative to L1, it dislikes over-smoothing."""
    from scipy import ndimage

    window = datasets.IntensityWindow(-160.0, 240.0)
    heads = [phantoms.head_slice(64, seed=s) for s in range(4)]
    clean = np.stack([window.normalize(h.hu) for h in heads])[..., None]
    noisy = np.stack([window.normalize(h.ct(noise_hu=25.0, seed=1)) for h in heads])[..., None]
    blurred = ndimage.gaussian_filter(noisy, (0, 1, 1, 0))
    loss = losses.PerceptualLoss()
    l1_ratio = float(losses.l1(clean, blurred)) / float(losses.l1(clean, noisy))
    feature_ratio = float(loss(clean, blurred)) / float(loss(clean, noisy))
    assert feature_ratio > 2 * l1_ratio  # measured at 25 HU on 4 heads: 6.0 vs 2.6


def test_perceptual_loss_custom_model_layers_weights_and_distance(ct_pair, tmp_path):
    clean, noisy = ct_pair
    keras.utils.set_random_seed(0)
    inp = keras.Input((None, None, 1))
    a = keras.layers.Conv2D(4, 3, padding="same", name="a")(inp)
    b = keras.layers.Conv2D(4, 3, padding="same", name="b")(a)
    model = keras.Model(inp, b)
    fa = keras.Model(inp, a)(clean).numpy(), keras.Model(inp, a)(noisy).numpy()
    only_a = losses.PerceptualLoss(model, layer_names=["a"], distance="l1")
    assert float(only_a(clean, noisy)) == pytest.approx(np.abs(fa[0] - fa[1]).mean(), rel=1e-5)
    both = losses.PerceptualLoss(model, layer_names=["a", "b"], weights=[1.0, 0.0])
    assert float(both(clean, noisy)) == pytest.approx(np.square(fa[0] - fa[1]).mean(), rel=1e-5)
    with pytest.raises(ValueError, match="weights"):
        losses.PerceptualLoss(model, layer_names=["a", "b"], weights=[1.0])
    with pytest.raises(ValueError, match="distance"):
        losses.PerceptualLoss(model, distance="l3")
    with pytest.raises(TypeError, match="in memory"):
        only_a.get_config()
    model.save(tmp_path / "f.keras")  # from a path it can be saved and restored
    from_path = losses.PerceptualLoss(str(tmp_path / "f.keras"), layer_names=["a"],
                                      distance="l1")
    again = losses.PerceptualLoss.from_config(from_path.get_config())
    assert float(again(clean, noisy)) == pytest.approx(float(only_a(clean, noisy)), rel=1e-5)


def test_vgg_weights_are_read_from_disk_only(tmp_path):
    with pytest.raises(FileNotFoundError, match="VGG19 weights not found"):
        losses.vgg_feature_model(tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")
    with pytest.raises(FileNotFoundError):
        losses.PerceptualLoss(str(tmp_path / "missing.keras"))


def test_vgg_features_from_a_local_weights_file(tmp_path):
    """The documented route, with random weights written in Keras' legacy .h5 format
    (the format of the ImageNet file): grey -> BGR - ImageNet mean -> VGG19 layers."""
    import h5py

    legacy = pytest.importorskip("keras.src.legacy.saving.legacy_h5_format")
    keras.utils.set_random_seed(0)
    vgg = keras.applications.VGG19(weights=None, include_top=False)
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as f:
        legacy.save_weights_to_hdf5_group(f, vgg)
    model = losses.vgg_feature_model(path, layer_names=("block1_conv2", "block3_conv4"))
    assert [o.shape[-1] for o in model.outputs] == [64, 256] and not model.trainable_variables
    y = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 1)).astype("float32")
    bgr = np.repeat((y + 1) * 127.5, 3, -1) - np.array([103.939, 116.779, 123.68], "float32")
    expected = keras.Model(vgg.inputs, vgg.get_layer("block3_conv4").output)(bgr)
    np.testing.assert_allclose(model(y)[1], expected, rtol=1e-5, atol=1e-4)
    loss = losses.PerceptualLoss(model)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    zero = np.zeros_like(y)
    assert float(again(zero, y)) == pytest.approx(float(loss(zero, y)), rel=1e-6)
