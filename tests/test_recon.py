"""Reconstruction: the TV baseline, AUTOMAP's size law, data consistency and the hybrid."""

import keras
import numpy as np
import pytest

from i2i_keras import physics, recon


def _blocks(n: int = 32) -> np.ndarray:
    """A piecewise-constant attenuation image (1/mm): TV's favourite object."""
    x = np.zeros((n, n))
    x[n // 8: -n // 8, n // 8: -n // 8] = 0.02
    x[n // 3: n // 2, n // 3: 2 * n // 3] = 0.03
    return x


def test_gradient_and_divergence_are_minus_adjoints():
    rng = np.random.default_rng(1)
    x, g = rng.normal(size=(3, 9, 7)), rng.normal(size=(3, 2, 9, 7))
    lhs = (recon.gradient(x) * g).sum()
    rhs = -(x * recon.divergence(g)).sum()
    assert abs(lhs - rhs) < 1e-10 * abs(lhs)


def test_tv_without_weight_solves_a_fully_sampled_mri_exactly():
    """Full k-space: A is unitary, so the least-squares solution is the image itself."""
    image = np.random.default_rng(0).normal(size=(16, 16)) + 0j
    mri = physics.CartesianMRI((16, 16))
    out = recon.tv_reconstruction(mri, mri.A(image), weight=0.0, n_iter=300)
    assert np.abs(out - image).max() < 1e-6


def test_tv_beats_fbp_on_sparse_view_blocks():
    """16 views of a 32² piecewise-constant object: FBP streaks, TV removes them.
    Measured (seeded): FBP MAE 2.7e-3 /mm, TV 1.0e-4 (25x lower); the test asks for 5x,
    which a wrong adjoint or step size misses by far (it diverges or stays at FBP)."""
    ct = physics.ParallelBeamCT(32, 16)
    truth = _blocks()
    sinogram = physics.PoissonNoise(1e6, seed=0)(ct.A(truth))
    fbp = ct.fbp(sinogram)
    tv = recon.tv_reconstruction(ct, sinogram, weight=3e-5, n_iter=300, x0=fbp)
    assert np.abs(tv - truth).mean() < 0.2 * np.abs(fbp - truth).mean()
    assert tv.min() >= 0.0  # the non-negativity constraint of attenuation


def test_tv_solves_a_batch_like_its_slices_one_by_one():
    ct = physics.ParallelBeamCT(16, 8)
    images = np.stack([_blocks(16), _blocks(16)[::-1]])
    sinograms = ct.A(images)
    batch = recon.tv_reconstruction(ct, sinograms, 1e-4, n_iter=20)
    one = recon.tv_reconstruction(ct, sinograms[1], 1e-4, n_iter=20)
    assert np.allclose(batch[1], one, atol=1e-12)


def test_tv_refuses_a_sinogram_of_another_geometry():
    ct = physics.ParallelBeamCT(32, 16)
    with pytest.raises(ValueError, match=r"measurements must have shape"):
        recon.tv_reconstruction(ct, np.zeros((32, 45)), 1e-4)


def test_automap_size_counts_the_dense_layers_of_the_built_network():
    net = recon.automap((6, 10, 1), 12, filters=4)
    dense = sum(layer.count_params() for layer in net.layers if layer.name in ("fc1", "fc2"))
    assert dense == recon.automap_size(60, 12)["parameters"]
    # The N^4 law: doubling the side (and the measurement with it) multiplies by ~16.
    ratio = recon.automap_size(4 * 128**2, 128)["parameters"] / recon.automap_size(
        4 * 64**2, 64)["parameters"]
    assert 15.9 < ratio < 16.1


def test_automap_too_large_is_refused_before_anything_is_built():
    with pytest.raises(MemoryError, match=r"grow as N\^4.*max_gb"):
        recon.automap((180, 363, 1), 256)  # ~16 G parameters: would need ~270 GB


def _centred(channels_numpy_order: np.ndarray) -> np.ndarray:
    """Network layout (B, N, N, 2), NumPy FFT order, unnormalised -> the image as complex."""
    return channels_numpy_order[..., 0] + 1j * channels_numpy_order[..., 1]


@pytest.mark.parametrize("weight", [None, 0.5])
def test_data_consistency_layer_matches_the_physics_function(weight):
    rng = np.random.default_rng(2)
    truth = rng.random((2, 16, 16))
    mask = physics.cartesian_mask((16, 16), 3, seed=0)
    d = recon.mri_network_inputs(truth, mask, noise_sigma=0.05, seed=3)
    prediction = rng.normal(size=(2, 16, 16)) + 1j * rng.normal(size=(2, 16, 16))
    layer = recon.DataConsistency(learned_weight=weight is not None,
                                  initial_log_weight=0.0 if weight is None else np.log(weight))
    channels = np.stack([prediction.real, prediction.imag], -1).astype("float32")
    out = keras.ops.convert_to_numpy(layer([channels, d["kspace"], d["mask"]]))
    expected = physics.data_consistency(prediction, d["measured"], mask, weight)
    assert np.abs(_centred(out) - expected).max() < 1e-5


def test_hard_data_consistency_makes_even_an_untrained_hybrid_agree_with_the_data():
    truth = np.random.default_rng(4).random((2, 16, 16))
    mask = physics.cartesian_mask((16, 16), 4, seed=1)
    d = recon.mri_network_inputs(truth, mask)
    keras.utils.set_random_seed(0)
    net = recon.unrolled_mri(16, iterations=2, base_filters=4)
    out = _centred(net.predict([d["zero_filled"], d["kspace"], d["mask"]], verbose=0))
    assert recon.dc_error(out, d["measured"], mask).max() < 1e-5
    assert recon.dc_error(np.abs(d["zero_filled"][..., 0]) * 0 + truth * 0.5,
                          d["measured"], mask).min() > 0.1  # a wrong image is seen


def test_shared_unrolled_network_has_one_cnn():
    shared = recon.unrolled_mri(16, iterations=3, base_filters=4, shared=True)
    separate = recon.unrolled_mri(16, iterations=3, base_filters=4)
    assert 2.9 < separate.count_params() / shared.count_params() < 3.1


def test_mri_inputs_refuse_a_mask_of_another_size():
    with pytest.raises(ValueError, match=r"mask \(N, N\) of the same N"):
        recon.mri_network_inputs(np.zeros((1, 16, 16)), np.ones((8, 8), bool))


def test_quarter_turns_are_the_scans_of_the_turned_objects():
    ct = physics.ParallelBeamCT(24, 12)
    objects = np.random.default_rng(5).random((2, 24, 24))
    sinograms, turned = recon.quarter_turns(ct.A(objects), objects, ct)
    assert sinograms.shape == (8, *ct.sinogram_shape) and turned.shape == (8, 24, 24)
    assert np.allclose(turned[6:], np.rot90(objects, 3, axes=(1, 2)))
    assert np.abs(sinograms - ct.A(turned)).max() < 1e-5 * np.abs(sinograms).max()
    with pytest.raises(ValueError, match="180-degree scan"):
        limited = physics.ParallelBeamCT(24, 12, angle_range_deg=120)
        recon.quarter_turns(ct.A(objects), objects, limited)


def test_data_consistency_refuses_kspace_of_another_grid():
    layer = recon.DataConsistency()
    with pytest.raises(ValueError, match=r"on one grid"):
        layer([np.zeros((1, 8, 8, 2), "float32"), np.zeros((1, 16, 16, 2), "float32"),
               np.zeros((1, 8, 8, 1), "float32")])
