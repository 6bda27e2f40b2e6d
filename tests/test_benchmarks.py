"""The parts of benchmarks/ that their reported numbers rest on: the FLOP count of a
step and the size-scaling plot redrawn from saved measurements."""

import json
import subprocess
import sys
from pathlib import Path

import keras

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import step_timing  # noqa: E402


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
