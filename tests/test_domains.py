"""Domain randomisation (i2i_keras.domains) and the limb phantom (i2i_keras.body):
the new knobs do what their names say, by identities where there are some, and the
default phantoms are untouched."""

import numpy as np
import pytest
from scipy import ndimage

from i2i_keras import body, domains, metrics, phantoms


def test_blur_is_the_stated_gaussian_point_spread_function():
    head = phantoms.head_slice(64, seed=4)
    sigma_px = 3.0 / 2.355 / head.pixel_mm  # FWHM 3 mm
    sharp = head.mr("T2", noise=0.0, seed=1)
    np.testing.assert_allclose(head.mr("T2", noise=0.0, seed=1, blur_mm=3.0),
                               ndimage.gaussian_filter(sharp, sigma_px), atol=1e-6)
    np.testing.assert_allclose(head.ct(0.0, blur_mm=3.0),
                               ndimage.gaussian_filter(head.hu, sigma_px), atol=1e-3)
    # and the defaults are the images of before (same seed, same draws)
    np.testing.assert_array_equal(head.mr("T1", seed=2), head.mr("T1", seed=2, blur_mm=0.0,
                                                                  noise_pattern=0.0))
    np.testing.assert_array_equal(head.ct(8.0, seed=3), head.ct(8.0, seed=3, grain_px=0.6))


def test_noise_pattern_makes_the_noise_level_vary_across_the_image():
    head = phantoms.head_slice(128, seed=1)
    clean = head.mr("PD", noise=0.0, seed=5)
    fat = phantoms.tissue_mask(head.labels, "fat", "muscle", "grey_matter", "white_matter")

    def block_sds(pattern):
        noise = head.mr("PD", noise=0.05, noise_pattern=pattern, seed=5) - clean
        sds = [noise[i:i + 16, j:j + 16][fat[i:i + 16, j:j + 16]].std()
               for i in range(0, 128, 16) for j in range(0, 128, 16)
               if fat[i:i + 16, j:j + 16].sum() > 100]
        return np.array(sds) / 0.05

    flat, patterned = block_sds(0.0), block_sds(0.5)
    # uniform noise: every block's SD within sampling error (~10 % for ~100 pixels)
    assert flat.max() / flat.min() < 1.3
    # g-factor map from 1 to 1.5: blocks span most of that, none below 1 or above 1.5
    assert patterned.max() / patterned.min() > 1.3 and 0.85 < patterned.min() < 1.6
    assert patterned.max() < 1.5 * 1.2


def test_the_limb_is_a_limb():
    limb = body.limb_slice(256, seed=7, fov_mm=180.0)
    anatomy, area = limb.patient, limb.pixel_mm ** 2
    cortex = phantoms.tissue_mask(limb.labels, "cortical_bone").sum() * area
    r, c = anatomy.bone_radius, anatomy.cortex_mm
    assert cortex == pytest.approx(np.pi * (r ** 2 - (r - c) ** 2), rel=0.1)
    marrow = "marrow" if anatomy.red_marrow else "yellow_marrow"
    assert phantoms.tissue_mask(limb.labels, marrow).sum() * area == pytest.approx(
        np.pi * (r - c) ** 2, rel=0.15)
    # fatty marrow is fat on CT (about -60 HU), a cortex near 1400 HU (times the density)
    assert limb.hu[phantoms.tissue_mask(limb.labels, "yellow_marrow")].mean() < 0 or \
        anatomy.red_marrow
    assert not phantoms.tissue_mask(limb.labels, "grey_matter", "white_matter", "csf").any()
    with pytest.raises(ValueError, match="too small for this limb"):
        body.limb_slice(64, seed=7, fov_mm=100.0)


def test_randomized_pairs_vary_every_slice_within_the_stated_ranges():
    d = domains.randomized_pairs(range(6), slices_per_patient=2, size=32, progress=False,
                                 limb_fraction=0.5)
    assert set(d["anatomy"]) == {"head", "limb"}
    for name, (lo, hi) in domains.RANGES.items():
        values = [a[name] for a in d["acquisition"]]
        assert min(values) >= lo and max(values) <= hi and len(set(values)) == len(values)
    # the clean twins: the same image without noise (noise has mean ~0 inside the body)
    body_px = d["labels"] > 0
    assert abs(float((d["ct"] - d["ct_clean"])[body_px].mean())) < 2.0
    assert float(np.abs(d["mr"] - d["mr_clean"]).mean()) > 0.005
    again = domains.randomized_pairs(range(6), slices_per_patient=2, size=32, progress=False,
                                     limb_fraction=0.5)
    np.testing.assert_array_equal(again["mr"], d["mr"])
    heads = domains.randomized_pairs(range(3), 1, 32, progress=False, limb_fraction=0.0)
    assert set(heads["anatomy"]) == {"head"}
    with pytest.raises(ValueError, match="weighting must be one of"):
        domains.random_acquisition(0, "T3")


def test_range_overrides_change_one_quantity_and_leave_the_rest():
    """A sharp truth for super-resolution: no MR blur, every other draw as before."""
    kw = dict(patients=range(3), slices_per_patient=2, size=32, progress=False)
    d = domains.randomized_pairs(**kw)
    sharp = domains.randomized_pairs(**kw, ranges={"mr_blur_px": (0.0, 0.0)})
    for a, b in zip(d["acquisition"], sharp["acquisition"]):
        assert b["mr_blur_px"] == 0.0 < a["mr_blur_px"]
        assert {k: v for k, v in a.items() if k != "mr_blur_px"} == \
            {k: v for k, v in b.items() if k != "mr_blur_px"}
    np.testing.assert_array_equal(sharp["ct"], d["ct"])
    assert metrics.high_frequency_energy(sharp["mr_clean"]) > \
        metrics.high_frequency_energy(d["mr_clean"])
    with pytest.raises(ValueError, match="unknown ranges"):
        domains.random_acquisition(0, ranges={"blur": (0.0, 1.0)})


def test_randomized_pairs_are_bit_identical_to_the_recorded_ones():
    """Every array of a seed's data set, pinned (recorded as test_phantoms.PINNED, in the
    environment test_phantoms.RECORDED_IN: elsewhere this skips)."""
    from test_phantoms import check_pinned, digest

    d = domains.randomized_pairs(range(2), slices_per_patient=2, size=128, limb_fraction=0.5,
                                 lesions=True, progress=False)
    d2 = domains.randomized_pairs([3, 4], slices_per_patient=2, size=64, weighting="T2",
                                  z_range=(-0.5, 0.2), progress=False)
    got = {}
    for tag, data in (("128", d), ("64", d2)):
        got |= {f"{tag}.{k}": digest(v) for k, v in data.items() if k != "acquisition"}
        got[f"{tag}.acquisition"] = digest(np.array(repr(data["acquisition"])))
    check_pinned(got, PINNED)


PINNED = {
    "128.mr": "b96af68c0be0f91a", "128.mr_clean": "73660119ee193747",
    "128.ct": "e384a873c0392188", "128.ct_clean": "930bc0c063b245ec",
    "128.labels": "ab5e7393a7690b10", "128.patient": "a7bd0da3969b620a",
    "128.z": "74bbfc0b2d4617bc", "128.anatomy": "7460dcdd5eeebf0d",
    "128.pixel_mm": "86577907d8c4250f", "128.acquisition": "5068f0611c255397",
    "64.mr": "1a07b938674737f4", "64.mr_clean": "063be195f1da8849",
    "64.ct": "2da091c011038dd8", "64.ct_clean": "bd1588ea830c4980",
    "64.labels": "156a6e8c7ff96899", "64.patient": "59e01ac713b94f25",
    "64.z": "2db1ef452f2c063c", "64.anatomy": "7460dcdd5eeebf0d",
    "64.pixel_mm": "4430a7741c43834c", "64.acquisition": "796f3a275ab9facb",
}


def test_random_contrast_changes_mr_tissue_by_tissue_and_leaves_ct_alone():
    """contrast=True: the same anatomy and acquisition, each tissue's MR signal times its
    drawn factor (checked on a pixel well inside each tissue's region), CT unchanged."""
    plain = domains.randomized_pairs([7], 2, size=64, limb_fraction=0.0, progress=False)
    varied = domains.randomized_pairs([7], 2, size=64, limb_fraction=0.0, progress=False,
                                      contrast=True)
    np.testing.assert_array_equal(plain["ct"], varied["ct"])
    np.testing.assert_array_equal(plain["labels"], varied["labels"])
    assert "tissue_gain" not in plain and varied["tissue_gain"].shape == (2, len(phantoms.TISSUES))
    labels = plain["labels"][0]
    for name in ("muscle", "grey_matter", "white_matter"):
        inside = ndimage.binary_erosion(labels == phantoms.TISSUES[name].label, iterations=2)
        if inside.sum() < 5:
            continue
        ratio = np.median(varied["mr_clean"][0][inside] / plain["mr_clean"][0][inside])
        assert ratio == pytest.approx(varied["tissue_gain"][0, phantoms.TISSUES[name].label],
                                      rel=0.02), name
    lo, hi = domains.CONTRAST_GAIN
    gains = np.stack([domains.random_tissue_gain(s) for s in range(200)])
    fat = gains[:, phantoms.TISSUES["fat"].label]
    suppressed = fat <= domains.FAT_SUPPRESSION[1][1]
    assert 0.2 < suppressed.mean() < 0.45  # about 30 % (and log-uniform fat below 0.3 never)
    assert gains[:, phantoms.TISSUES["muscle"].label].min() >= lo
    assert gains.max() <= hi
    with pytest.raises(ValueError, match="one per tissue label"):
        phantoms.head_slice(32).mr(tissue_gain=np.ones(3))
