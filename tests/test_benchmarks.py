"""The parts of benchmarks/ that their reported numbers rest on: the reference networks
and steps (reference_gan.py, the TensorFlow tutorials' networks), the FLOP count of a
step and the size-scaling plot redrawn from saved measurements."""

import json
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import reference_gan  # noqa: E402
import step_timing  # noqa: E402

from i2i_keras import models  # noqa: E402


def test_reference_networks_have_the_tensorflow_tutorials_weights_at_256():
    # Counted by the pix2pix tutorial's Generator().summary() and Discriminator().summary()
    # (3 channels), and by building these.
    g, d = reference_gan.unet_generator(256, 3), reference_gan.patchgan(256, 3)
    assert g.count_params() == 54_425_859
    assert d.count_params() == 2_770_433
    assert g.output_shape == (None, 256, 256, 3) and d.output_shape == (None, 30, 30, 1)


def test_pix2pix_generator_of_the_library_computes_the_reference_generator():
    keras.utils.set_random_seed(0)
    ref = reference_gan.unet_generator(64, 1)
    ours = models.pix2pix_generator((64, 64, 1), out_channels=1)
    assert [w.shape for w in ours.weights] == [w.shape for w in ref.weights]
    ours.set_weights(ref.get_weights())
    x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 1)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), ref.predict(x, verbose=0),
                               atol=1e-5)


def test_reference_tensorflow_steps_train():
    for make in (reference_gan.pix2pix_step_fn, reference_gan.cyclegan_step_fn):
        keras.utils.set_random_seed(0)
        step = make(32, 1)
        x, y = (np.random.default_rng(i).uniform(-1, 1, (1, 32, 32, 1)).astype("float32")
                for i in range(2))
        losses = [tuple(float(v) for v in step(x, y)) for _ in range(2)]
        assert np.all(np.isfinite(losses)) and losses[0] != losses[1], (make, losses)


def test_benchmarks_need_nothing_outside_the_repository():
    for script in BENCHMARKS.glob("*.py"):
        text = script.read_text()
        assert not re.search(r"anchors|shared/|parents\[2\]", text), script.name
    help_text = subprocess.run([sys.executable, str(BENCHMARKS / "trainer_speed.py"), "--help"],
                               check=True, capture_output=True, text=True).stdout
    assert "--sizes" in help_text


def test_forward_flops_counts_multiply_adds_of_convolutions_and_transposed_ones():
    x = keras.Input((16, 16, 2))
    y = keras.layers.Conv2D(8, 3, padding="same")(x)            # 16² outputs, 3x3x2 -> 8
    y = keras.layers.Conv2D(8, 2, strides=2)(y)                  # 8² outputs, 2x2x8 -> 8
    y = keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same")(y)  # 8² inputs, 8 -> 4
    y = keras.layers.ReLU()(y)                                   # not counted
    model = keras.Model(x, y)
    expected = 2 * (16 * 16 * 9 * 2 * 8 + 8 * 8 * 4 * 8 * 8 + 8 * 8 * 16 * 8 * 4)
    assert step_timing.forward_flops(model) == expected
    nested = keras.Sequential([keras.Input((16, 16, 2)), model])
    assert step_timing.forward_flops(nested) == expected


def test_step_flops_is_three_times_the_forward_passes_of_a_step():
    g = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 1)])
    d = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 1)])
    fg, fd = 2 * 64 * 2, 2 * 64 * 1
    assert step_timing.step_flops("pix2pix", [g], [d]) == 3 * (fg + 2 * fd)
    assert step_timing.step_flops("cyclegan", [g, g], [d, d]) == 3 * (6 * fg + 4 * fd)


def test_size_scaling_plot_redraws_from_its_saved_measurements(tmp_path):
    table = {"float32": {"1": {"64": 30.0, "128": 80.0}, "4": {"64": 70.0, "128": 210.0}}}
    (tmp_path / "scaling.json").write_text(json.dumps({"title": "test", "ms_per_step": table}))
    out = tmp_path / "scaling.png"
    subprocess.run([sys.executable, str(BENCHMARKS / "size_scaling.py"), "--plot-only",
                    "--out", str(out)], check=True, capture_output=True)
    assert out.stat().st_size > 10_000


# time_to_quality.py: the race of our MR -> CT recipes against the reference recipes.
import time_to_quality  # noqa: E402


def test_keras_io_cyclegan_networks_have_its_weights_at_256():
    # Counted by hand from keras-io's layer list (3 channels): the ResNet-9 generator
    # (no biases but the last convolution's, instance norm with gamma and beta) and the
    # C64-C128-C256-C512 discriminator with its (size/8)² logits.
    g = reference_gan.keras_io_resnet_generator(256, 3)
    d = reference_gan.keras_io_discriminator(256, 3)
    assert g.count_params() == 11_383_427 and d.count_params() == 2_765_633
    assert g.output_shape == (None, 256, 256, 3) and d.output_shape == (None, 32, 32, 1)


def test_time_to_reach_interpolates_the_first_crossing():
    reach = time_to_quality.time_to_reach
    t = [0.0, 10.0, 20.0, 30.0, 40.0]
    mae = [800.0, 400.0, 100.0, 300.0, 90.0]  # crosses 200 between 10 and 20 s, then again
    assert reach(t, mae, 200.0) == 10.0 + (400 - 200) / (400 - 100) * 10.0
    assert reach(t, mae, 100.0) == 20.0      # met exactly at an evaluation
    assert reach(t, mae, 95.0) == 30.0 + (300 - 95) / (300 - 90) * 10.0  # only the last
    assert reach(t, mae, 800.0) == 0.0       # the first evaluation is already there
    assert reach(t, mae, 50.0) is None       # never


def test_budget_decay_holds_then_reaches_zero_at_the_planned_step():
    s = time_to_quality.BudgetDecay(2e-4, total_steps=1000, hold_fraction=0.5)
    rate = lambda step: float(s(step))  # noqa: E731
    assert rate(0) == rate(500) == np.float32(2e-4)
    assert np.isclose(rate(750), 1e-4) and rate(1000) == 0.0 and rate(5000) == 0.0
    s.plan(steps_done=300, steps_per_second=5.0, seconds_left=140.0)  # 300 + 700 more
    assert float(s.total_steps.numpy()) == 1000.0
    s.plan(steps_done=300, steps_per_second=5.0, seconds_left=340.0)  # 300 + 1700 more
    assert np.isclose(rate(1500), 1e-4)  # the decay stretched to 2000 steps


def test_time_to_quality_quick_run_writes_curves_in_hu(tmp_path):
    result = time_to_quality.main(["--quick", "--out", str(tmp_path / "ttq")])
    assert json.loads((tmp_path / "ttq.json").read_text()) == json.loads(json.dumps(result))
    assert (tmp_path / "ttq.png").stat().st_size > 10_000
    assert "CLAIM" in (tmp_path / "ttq.md").read_text()
    assert result["machine"]["tf intra-op threads"] is not None
    assert set(result["tasks"]) == {"pix2pix", "cyclegan"}
    for task, t in result["tasks"].items():
        assert set(t["recipes"]) == {"ours", "reference"}
        for name, recipe in t["recipes"].items():
            curve = recipe["curve"]
            seconds = [p["train_s"] for p in curve]
            steps = [p["steps"] for p in curve]
            assert len(curve) >= 2 and seconds[0] == 0 and steps[0] == 0, (task, name)
            assert np.all(np.diff(seconds) > 0) and np.all(np.diff(steps) > 0), (task, name)
            assert seconds[-1] >= result["budget_s"], (task, name)  # each used its budget
            assert [p["images"] for p in curve] == [n * recipe["batch_size"] for n in steps]
            maes = np.array([p["mae_hu"] for p in curve])
            # In HU: an untrained generator is off by hundreds of HU, not by a fraction
            # of the normalised [-1, 1] range, nor by more than the 3000 HU window.
            assert np.all(np.isfinite(maes)) and np.all((maes > 20) & (maes < 3000)), maes
        ref = t["recipes"]["reference"]["curve"]
        assert t["target_mae_hu"] == round(ref[-1]["mae_hu"], 2)
        assert 0 < t["time_to_target_s"]["reference"] <= ref[-1]["train_s"]
    variants = result["tasks"]["pix2pix"]["recipes"]["reference"]["curve"][-1]
    assert variants["mae_hu"] == min(variants["mae_hu_by_variant"].values())
    assert isinstance(result["tasks"]["pix2pix"]["bar"]["holds"], bool)
