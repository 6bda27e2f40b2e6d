"""Monte-Carlo dropout, deep ensembles, the calibration report (i2i_keras.uncertainty)
and the structure-aware measures (i2i_keras.structure), against values known exactly."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from scipy import ndimage

from i2i_keras import models, phantoms, structure, uncertainty

CHANNELS, RATE = 50, 0.5


def linear_dropout_net(rate: float = RATE) -> keras.Model:
    """x -> Dropout -> sum over 50 channels (a 1x1 convolution of ones, no bias).

    For an input of c in every channel the output is c * sum(m_i / (1 - p)), m_i ~
    Bernoulli(1 - p): mean 50 c and SD c * sqrt(50 p / (1 - p)) (= 7.07 c at p = 0.5).
    """
    inputs = keras.Input((4, 4, CHANNELS))
    x = keras.layers.Dropout(rate)(inputs)
    out = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones")(x)
    return keras.Model(inputs, out)


def inputs_of(values) -> np.ndarray:
    return np.stack([np.full((4, 4, CHANNELS), v, "float32") for v in values])


def test_mc_dropout_gives_the_mean_and_sd_of_the_dropout_noise():
    keras.utils.set_random_seed(0)
    net, values = linear_dropout_net(), [1.0, 2.0, 3.0]
    # 400 passes; 3 images of 16 pixels; batch_size 800 = 2 images a call (a partial chunk)
    mean, sd = uncertainty.mc_dropout(net, inputs_of(values), n=400, batch_size=800, seed=0)
    assert mean.shape == sd.shape == (3, 4, 4, 1)
    true_sd = np.sqrt(CHANNELS * RATE / (1 - RATE))
    for k, c in enumerate(values):  # image order kept through the tiling
        # the mean of 400 passes has SD 7.07 c / 20 per pixel; 16 pixels: 0.09 c. Bar 0.5 c
        assert abs(mean[k].mean() - CHANNELS * c) < 0.5 * c
        # the SD's relative error is 1/sqrt(2 * 399) = 3.5 % per pixel, 0.9 % over 16. Bar 5 %
        assert abs(sd[k].mean() / (true_sd * c) - 1) < 0.05
    assert len(np.unique(sd)) > 1  # every pixel draws its own masks


def test_mc_dropout_is_reproducible_with_a_seed_and_applies_transform_per_pass():
    net, x = linear_dropout_net(), inputs_of([1.0, 2.0])
    a = uncertainty.mc_dropout(net, x, n=10, seed=3)
    b = uncertainty.mc_dropout(net, x, n=10, seed=3)
    c = uncertainty.mc_dropout(net, x, n=10, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    # The square of each pass, then the statistics: E[y^2] = mean^2 + var (ddof 0)
    sq_mean, _ = uncertainty.mc_dropout(net, x, n=10, seed=3, transform=np.square)
    expected = a[0].astype(np.float64) ** 2 + a[1].astype(np.float64) ** 2 * 9 / 10
    np.testing.assert_allclose(sq_mean, expected, rtol=1e-4)


def test_mc_dropout_refuses_networks_it_cannot_sample():
    x = np.zeros((1, 16, 16, 1), "float32")
    with pytest.raises(ValueError, match="dropout"):
        uncertainty.mc_dropout(models.unet((16, 16, 1), depth=2, base_filters=4), x)
    with pytest.raises(ValueError, match="batch normalisation"):
        uncertainty.mc_dropout(models.unet((16, 16, 1), depth=2, base_filters=4, norm="batch",
                                           dropout=0.3), x)
    with pytest.raises(ValueError, match="at least 2"):
        uncertainty.mc_dropout(linear_dropout_net(), inputs_of([1.0]), n=1)


def test_ensemble_mean_and_sd_are_those_of_the_members():
    calls = []

    def build(seed):
        return models.unet((16, 16, 1), depth=2, base_filters=4, norm="none")

    def train(net, seed):
        calls.append(seed)

    ens = uncertainty.train_ensemble(build, train, seeds=(5, 6, 7))
    assert calls == [5, 6, 7]
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 1)).astype("float32")
    outs = np.stack([net.predict(x, verbose=0) for net in ens.networks]).astype(np.float64)
    mean, sd = ens.predict(x, transform=lambda y: 1500 * y + 500)  # to HU, as CT_WINDOW
    np.testing.assert_allclose(mean, 1500 * outs.mean(0) + 500, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(sd, 1500 * outs.std(0, ddof=1), rtol=1e-4, atol=1e-3)
    again = uncertainty.train_ensemble(build, train, seeds=(5, 6, 7))
    for a, b in zip(ens.networks, again.networks):  # the seed fixes each member
        np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])
    assert not np.array_equal(ens.networks[0].get_weights()[0], ens.networks[1].get_weights()[0])
    with pytest.raises(ValueError, match="at least 2"):
        uncertainty.Ensemble(ens.networks[:1]).predict(x)


def test_calibration_of_a_perfect_ranking_is_the_oracle():
    error = np.random.default_rng(1).standard_normal(5000)
    r = uncertainty.calibration_report(np.abs(error), error)
    np.testing.assert_allclose(r.sparsification, r.oracle)
    assert r.ause == pytest.approx(0.0, abs=1e-12)
    assert r.spearman == pytest.approx(1.0)
    assert r.area_oracle < r.area_random


def test_sparsification_curve_exact_values():
    error = np.array([1.0, 2.0, 3.0, 4.0])
    r = uncertainty.calibration_report(error, error, bins=2, fractions=np.array([0, 0.25, 0.5]))
    # removing 4, then 4 and 3: means 2 and 1.5 against 2.5 for all
    np.testing.assert_allclose(r.sparsification, [1.0, 2.0 / 2.5, 1.5 / 2.5])
    reverse = uncertainty.calibration_report(-error, error, bins=2,
                                             fractions=np.array([0, 0.25, 0.5]))
    np.testing.assert_allclose(reverse.sparsification, [1.0, 3.0 / 2.5, 3.5 / 2.5])
    assert reverse.area_model > reverse.area_random  # worse than random: removes the best


def test_calibration_of_uninformative_and_of_calibrated_sd():
    rng = np.random.default_rng(2)
    n = 200_000
    sd = rng.uniform(1.0, 20.0, n)
    noise = rng.standard_normal(n)
    unrelated = uncertainty.calibration_report(rng.permutation(sd), sd * noise)
    # 200 000 pixels: Spearman's SE is 1/sqrt(n) = 0.002; the curve's wobble ~0.01. Bars 5x
    assert abs(unrelated.spearman) < 0.01
    assert abs(unrelated.area_model - unrelated.area_random) < 0.05
    calibrated = uncertainty.calibration_report(sd, sd * noise, bins=50)
    # error ~ N(0, sd): a bin's RMSE is sqrt(mean sd^2), at most 0.4 % above its mean SD
    # (SD within 0.38 of itself), measured on 4000 pixels to 1.1 % (one SE). Bar 5 %
    np.testing.assert_allclose(calibrated.bin_rmse / calibrated.bin_sd, 1.0, atol=0.05)
    assert calibrated.bin_count.sum() == n
    assert calibrated.spearman > 0.3 and calibrated.area_model < calibrated.area_random
    assert "Spearman" in str(calibrated)


def test_calibration_mask_selects_pixels_and_shapes_are_checked():
    rng = np.random.default_rng(3)
    sd, error = rng.random((2, 8, 8)), rng.standard_normal((2, 8, 8))
    mask = rng.random((2, 8, 8)) > 0.5
    a = uncertainty.calibration_report(sd, error, mask=mask, bins=4)
    b = uncertainty.calibration_report(sd[mask], error[mask], bins=4)
    np.testing.assert_allclose(a.sparsification, b.sparsification)
    assert a.spearman == b.spearman
    with pytest.raises(ValueError, match="same shape"):
        uncertainty.calibration_report(sd, error[:1])
    with pytest.raises(ValueError, match="finite"):
        uncertainty.calibration_report(np.full(20, np.nan), np.ones(20))


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_mc_dropout_on_other_backends(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} not installed")
    code = ("import json, keras, numpy as np\n"
            "from tests.test_uncertainty import linear_dropout_net, inputs_of\n"
            "from i2i_keras import uncertainty\n"
            "keras.utils.set_random_seed(0)\n"
            "net = linear_dropout_net()\n"
            "m, s = uncertainty.mc_dropout(net, inputs_of([1.0, 2.0]), n=200, seed=1)\n"
            "m2, s2 = uncertainty.mc_dropout(net, inputs_of([1.0, 2.0]), n=200, seed=1)\n"
            "print(json.dumps([m[0].mean(), m[1].mean(), s[0].mean(), s[1].mean(),\n"
            "                  bool(np.array_equal(s, s2))], default=float))\n")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    m0, m1, s0, s1, same = json.loads(done.stdout.strip().splitlines()[-1])
    true_sd = np.sqrt(CHANNELS * RATE / (1 - RATE))
    # 200 passes: the SD's relative error over 16 pixels is 1.3 %, the mean's 0.13 c. Bars 4x
    assert abs(m0 - 50) < 0.5 and abs(m1 - 100) < 1.0
    assert abs(s0 / true_sd - 1) < 0.06 and abs(s1 / (2 * true_sd) - 1) < 0.06
    assert same  # the seed restarts the dropout streams on this backend too


# --------------------------------------------------------------------------------------
# structure
# --------------------------------------------------------------------------------------

L = phantoms.TISSUES


def square_lesion_labels():
    """20x20 white matter with a 3x3 lesion in the middle and a 1-pixel one in a corner."""
    labels = np.full((1, 20, 20), L["white_matter"].label, np.int8)
    labels[0, 8:11, 8:11] = L["lesion"].label
    labels[0, 1, 1] = L["lesion"].label  # below min_pixels: skipped
    return labels


def test_lesion_contrast_is_inside_minus_ring():
    labels = square_lesion_labels()
    image = np.full((1, 20, 20), 25.0)
    image[0, 8:11, 8:11] = 15.0
    image[0, 0, :] = 1000.0  # outside the 2-pixel ring: must not count
    np.testing.assert_allclose(structure.lesion_contrast(image, labels), [-10.0])
    flat = np.full((1, 20, 20), 25.0)
    np.testing.assert_allclose(structure.lesion_contrast(flat, labels), [0.0])
    assert structure.lesion_fate(structure.lesion_contrast(flat, labels),
                                 structure.lesion_contrast(image, labels)) == {
        "kept": 0, "faded": 0, "removed": 1}


def test_lesion_contrast_on_a_phantom_ct_is_the_oedemas():
    head = phantoms.head_slice(64, seed=0, z=0.0, lesions=2)
    c = structure.lesion_contrast(head.hu, head.labels)
    # oedema 18 HU against white 25 and grey 40 HU, with texture and partial volume
    assert len(c) == 2 and np.all((c < -2) & (c > -25))


def test_false_bone_counts_only_true_air_in_the_region():
    truth = np.full((1, 6, 6), -1000.0)
    truth[0, :, 3:] = 1200.0  # bone on the right half
    pred = np.full((1, 6, 6), 800.0)  # bone everywhere
    region = np.zeros((1, 6, 6), bool)
    region[0, :2] = True  # the top two rows: 6 air pixels and 6 bone pixels
    r = structure.false_bone(pred, truth, region)
    assert (r["air_pixels"], r["false_bone_pixels"], r["fraction"]) == (6, 6, 1.0)
    assert r["mean_hu"] == 800.0
    assert structure.false_bone(truth, truth)["false_bone_pixels"] == 0


def test_tissue_dice_is_one_for_the_table_ct_and_less_when_shifted():
    head = phantoms.head_slice(64, seed=1, z=-0.4)
    table = np.array([t.hu for t in sorted(L.values(), key=lambda t: t.label)])
    ct = table[head.labels]  # each pixel at its tissue's CT number
    d = structure.tissue_dice(ct, head.labels)
    assert d == {"air": 1.0, "fat": 1.0, "soft tissue": 1.0, "bone": 1.0}
    shifted = structure.tissue_dice(np.roll(ct, 2, axis=1), head.labels)
    assert shifted["bone"] < 0.9 and shifted["air"] < 1.0
    assert structure.dice(np.zeros(3, bool), np.zeros(3, bool)) != 0  # NaN, not 0


def test_gradient_error_sees_edges_not_offsets():
    head = phantoms.head_slice(64, seed=2)
    hu = head.hu.astype(np.float64)  # (float32 + 100 rounds the gradients by ~1e-6 HU)
    assert structure.gradient_error(hu + 100.0, hu) == pytest.approx(0.0, abs=1e-9)
    blurred = ndimage.gaussian_filter(hu, 1.0)
    assert structure.gradient_error(blurred, hu) > 10.0  # HU per pixel, at the skull
