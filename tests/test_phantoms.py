import numpy as np
import pytest

from i2i_keras import phantoms
from i2i_keras.phantoms import TISSUES


def L(name):
    return TISSUES[name].label


def test_same_seed_same_phantom_and_different_seed_differs():
    a, b = phantoms.head_slice(64, seed=3, z=0.1), phantoms.head_slice(64, seed=3, z=0.1)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.hu, b.hu)
    np.testing.assert_array_equal(a.mr("T1", seed=1), b.mr("T1", seed=1))
    c = phantoms.head_slice(64, seed=4, z=0.1)
    assert (c.labels != a.labels).mean() > 0.05


@pytest.mark.parametrize("size", [64, 128, 256, 512])
def test_sizes(size):
    head = phantoms.head_slice(size, seed=1)
    assert head.labels.shape == head.hu.shape == (size, size)
    assert head.pixel_mm == pytest.approx(220.0 / size)
    assert head.body_mask.mean() > 0.3


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="z"):
        phantoms.head_slice(64, z=1.5)
    with pytest.raises(ValueError, match="size"):
        phantoms.head_slice(8)
    with pytest.raises(ValueError, match="weighting"):
        phantoms.head_slice(64).mr("FLAIR")


def test_ct_numbers_of_air_bone_and_soft_tissue():
    head = phantoms.head_slice(256, seed=2, z=0.0, supersample=2)
    hu, lab = head.hu, head.labels
    assert np.all(hu[lab == L("air")][:100] == -1000.0)  # corners: air
    assert np.median(hu[lab == L("cortical_bone")]) > 700  # partial volume lowers thin bone
    assert 200 < np.median(hu[lab == L("marrow")]) < 700
    assert 10 < np.median(hu[lab == L("white_matter")]) < 40
    assert -150 < np.median(hu[lab == L("fat")]) < 100


def test_air_and_cortical_bone_are_both_dark_on_mr():
    dark = {"air_cavity": [], "cortical_bone": [], "white_matter": []}
    for seed in range(6):
        head = phantoms.head_slice(128, seed=seed, z=-0.6)
        for weighting in ("T1", "T2"):
            mr = head.mr(weighting, seed=0, noise=0.0, bias=0.0)
            for name in dark:
                if np.any(head.labels == L(name)):
                    dark[name].append((weighting, np.median(mr[head.labels == L(name)])))
    assert dark["air_cavity"], "low slices must have sinus or mastoid air"
    for weighting in ("T1", "T2"):
        wm = np.median([v for w, v in dark["white_matter"] if w == weighting])
        for name in ("air_cavity", "cortical_bone"):
            assert np.median([v for w, v in dark[name] if w == weighting]) < 0.35 * wm


def test_mr_contrast_follows_the_spin_echo_equation():
    head = phantoms.head_slice(256, seed=0, z=0.1)
    med = {}
    for w in ("T1", "T2"):
        mr = head.mr(w, noise=0.0, bias=0.0)
        med[w] = {n: np.median(mr[head.labels == L(n)]) for n in
                  ("fat", "white_matter", "grey_matter", "csf")}
    t1, t2 = med["T1"], med["T2"]
    assert t1["fat"] > t1["white_matter"] > t1["grey_matter"] > t1["csf"]
    assert t2["csf"] > t2["grey_matter"] > t2["white_matter"]
    # Fully relaxed water-like tissue: S = PD (1 - e^(-TR/T1)) e^(-TE/T2) for CSF at T2w.
    csf = TISSUES["csf"]
    expected = csf.pd * (1 - np.exp(-4000 / csf.t1[0])) * np.exp(-100 / csf.t2[0])
    assert t2["csf"] == pytest.approx(expected, rel=0.05)


def test_tissues_are_textured_not_flat():
    head = phantoms.head_slice(256, seed=5, z=0.3)
    for name, min_sd in (("white_matter", 1.5), ("cortical_bone", 30.0)):
        inner = head.labels == L(name)
        assert np.std(head.hu[inner]) > min_sd, name
    mr = head.mr("T1", noise=0.0, bias=0.0)
    wm = mr[head.labels == L("white_matter")]
    assert np.std(wm) / np.mean(wm) > 0.01


def test_ct_noise_has_the_requested_standard_deviation():
    head = phantoms.head_slice(128, seed=1)
    noise = head.ct(noise_hu=10.0, seed=0) - head.hu
    assert noise.std() == pytest.approx(10.0, rel=0.02)
    assert np.array_equal(head.ct(noise_hu=0.0), head.hu)


def test_mr_ct_pairs_are_registered_stacks_with_patient_ids():
    d = phantoms.mr_ct_pairs([7, 8], slices_per_patient=3, size=64, progress=False)
    assert d["mr"].shape == d["ct"].shape == d["labels"].shape == (6, 64, 64)
    assert d["patient"].tolist() == [7, 7, 7, 8, 8, 8]
    # Registered: the head outline on MR (bright scalp) matches the CT body.
    body_ct = d["ct_clean"] > -900
    assert (d["mr"][body_ct] > 0.05).mean() > 0.7
    assert (d["mr"][~body_ct] > 0.1).mean() < 0.02
