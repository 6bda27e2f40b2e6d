
import numpy as np
import pytest

from i2i_keras import baselines, metrics, phantoms, physics

WINDOW = (-160.0, 240.0)


@pytest.fixture(scope="module")
def ct_slices():
    """20 textured phantom slices of 128² in HU, clean and with 25 HU correlated noise."""
    heads = [phantoms.head_slice(128, seed=s, z=z) for s in range(10) for z in (-0.2, 0.3)]
    clean = np.stack([h.hu for h in heads])
    noisy = np.stack([h.ct(noise_hu=25.0, seed=i) for i, h in enumerate(heads)])
    return noisy, clean


def test_denoisers_reduce_the_error_in_the_window(ct_slices):
    noisy, clean = ct_slices
    # Deterministic (seeded phantoms and noise): the noisy input scores 29.03 dB in the
    # window; NLM (h 25) gains 5.29 dB, TV (weight 20) 3.60 dB. The bar +3 dB is 57 % and
    # 83 % of those.
    before = metrics.psnr_in_window(noisy[:4], clean[:4], WINDOW)
    for method, params in (("nlm", {"h": 25.0}), ("tv", {"weight": 20.0})):
        out = baselines.denoise(noisy[:4], method, **params)
        assert out.shape == noisy[:4].shape and out.dtype == np.float32
        gain = metrics.psnr_in_window(out, clean[:4], WINDOW) - before
        print(f"{method}: {before:.2f} dB + {gain:.2f} dB")
        assert gain > 3.0, method
    # A Gaussian filter of sigma px divides the std of white noise by 2 sigma sqrt(pi)...
    flat = np.random.default_rng(0).normal(40.0, 20.0, (4, 96, 96))
    smooth = baselines.denoise(flat, "gaussian", sigma=2.0)
    # (seed 0: 2.821 HU, the theory's 2.821 HU; rel=0.1 is 3 standard deviations of the
    # sample std of 4 x 80² pixels correlated over ~50 pixels each)
    print(f"gaussian: std {smooth[:, 8:-8, 8:-8].std():.3f} HU")
    assert smooth[:, 8:-8, 8:-8].std() == pytest.approx(20.0 / (4.0 * np.sqrt(np.pi)), rel=0.1)
    # ... but blurs the skull (1400 HU) into the brain: on the phantom it loses.
    blurred = baselines.denoise(noisy[:4], "gaussian", sigma=1.0)
    loss = before - metrics.psnr_in_window(blurred, clean[:4], WINDOW)
    print(f"gaussian sigma 1: - {loss:.2f} dB")  # measured 9.79 dB; the bar 5 dB is half
    assert loss > 5.0
    one = baselines.denoise(noisy[0], "tv", weight=20.0)
    np.testing.assert_allclose(one, baselines.denoise(noisy[:1], "tv", weight=20.0)[0])
    with pytest.raises(ValueError, match="needs h"):
        baselines.denoise(noisy, "nlm")
    with pytest.raises(ValueError, match="method"):
        baselines.denoise(noisy, "bm3d", sigma=1.0)


@pytest.mark.parametrize("method", sorted(baselines.DENOISERS))
def test_tuning_finds_the_best_strength(ct_slices, method):
    # (How long tuning takes is measured by benchmarks/baseline_speed.py, not here.)
    noisy, clean = ct_slices
    best, table = baselines.tune_denoiser(method, noisy, clean, WINDOW)
    name = baselines.DENOISERS[method][0]
    assert set(best) == {name}
    scores = {row[0][name]: row[1] for row in table}
    assert scores[best[name]] == max(scores.values())
    # The optimum is inside the searched range, not at its edge.
    assert min(scores) < best[name] < max(scores)
    # The table's scores are what denoise + psnr_in_window give.
    out = baselines.denoise(noisy, method, **best)
    assert metrics.psnr_in_window(out, clean, WINDOW) == pytest.approx(scores[best[name]])


def test_tuning_on_a_given_grid(ct_slices):
    noisy, clean = ct_slices
    grid = {"h": [15.0, 30.0], "patch_size": [3, 5]}
    best, table = baselines.tune_denoiser("nlm", noisy[:4], clean[:4], WINDOW, grid=grid)
    assert len(table) == 4 and isinstance(best["patch_size"], int)
    assert best == max(table, key=lambda row: row[1])[0]


def _smooth_image(n=128):
    yy, xx = np.mgrid[:n, :n] / n
    return np.sin(2 * np.pi * (2 * yy + xx)) + 0.5 * np.cos(2 * np.pi * (3 * xx - yy))


def test_bicubic_is_aligned_with_kspace_truncation():
    image = _smooth_image()
    low = physics.kspace_truncate(image, 4, keep_size=False, magnitude=False).real
    aligned = baselines.bicubic_upsample(low, 4)
    shifted = baselines.bicubic_upsample(low, 4, align="blocks")  # skimage resize's grid
    assert aligned.shape == image.shape
    good, bad = metrics.psnr(aligned, image, 4.0), metrics.psnr(shifted, image, 4.0)
    assert good > 60.0 and bad < 30.0  # measured 70.7 and 27.7 dB
    # Bicubic passes through the samples: fine pixel 4 m is low-resolution pixel m.
    np.testing.assert_allclose(aligned[::4, ::4], low, atol=1e-5)
    np.testing.assert_allclose(baselines.bicubic_upsample(np.full((2, 8, 8), 3.0), 2), 3.0,
                               atol=1e-6)
    # physics.downsample centres coarse pixels on their blocks: there "blocks" is right.
    small = physics.downsample(image, 4)
    gain = (metrics.psnr(baselines.bicubic_upsample(small, 4, align="blocks"), image, 4.0)
            - metrics.psnr(baselines.bicubic_upsample(small, 4), image, 4.0))
    print(f"bicubic on block means: 'blocks' + {gain:.2f} dB")
    assert gain > 3.0  # deterministic: measured 20.21 dB; the bar is 15 % of it


def test_bicubic_on_phantom_mr_and_odd_sizes():
    t1 = phantoms.head_slice(96, seed=0).mr("T1", noise=0.0, bias=0.0)
    low = physics.kspace_truncate(t1, 3, keep_size=False)  # 32²
    up = baselines.bicubic_upsample(low, 3)
    assert up.shape == (96, 96)
    gain = metrics.psnr(up, t1, 1.0) - metrics.psnr(
        baselines.bicubic_upsample(low, 3, align="blocks"), t1, 1.0)
    print(f"bicubic on the phantom MR: aligned + {gain:.2f} dB")
    assert gain > 0.5  # deterministic: measured 1.04 dB (the half-pixel shift); bar half
    odd = physics.kspace_truncate(t1[:90, :90], 4, keep_size=False)  # round(90/4) = 22
    assert baselines.bicubic_upsample(odd, 4, shape=(90, 90)).shape == (90, 90)
    with pytest.raises(ValueError, match="align"):
        baselines.bicubic_upsample(low, 3, align="corners")
