"""The readable core: the step a student reads is the step that runs, speed-ups that
touch Keras internals stay in one opt-in module, and the quickstart's helpers live where
they belong (recipes, datasets, metrics) without global side effects."""

import inspect
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from i2i_keras import datasets, metrics, phantoms, quickstart, recipes, training

PACKAGE = Path(training.__file__).parent


@pytest.mark.parametrize("trainer", [training.Pix2Pix, training.CycleGAN, training.Supervised])
def test_the_tensorflow_step_is_written_out_on_one_screen(trainer):
    source = inspect.getsource(trainer.train_step)
    for piece in ("tf.GradientTape()", "self.compute_losses(", ".gradient(", "apply_gradients(",
                  "return self.log(logs)"):
        assert piece in source, (trainer.__name__, piece)
    assert len(source.splitlines()) <= 25
    assert "compute_losses" in trainer.__dict__ and "train_step" in trainer.__dict__


def test_keras_internals_are_used_in_speedups_only():
    pattern = re.compile(r"keras\.src|\._momentums|\._velocities|AutocastScope")
    users = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
                   if pattern.search(p.read_text()))
    assert users == ["speedups.py"]


def test_speedups_are_opt_in():
    code = ("import sys, keras, i2i_keras as i2i\n"
            "from i2i_keras import models, training\n"
            "net = training.Supervised(models.unet((16, 16, 1), depth=1, base_filters=2))\n"
            "net.compile(training.adam(1e-3, 10))\n"
            "print('i2i_keras.speedups' in sys.modules, type(net.optimizer).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["False", "Adam"], out.stderr[-2000:]


def test_settings_are_built_by_keyword_and_sized_to_the_machine(monkeypatch):
    monkeypatch.delenv("I2I_PRETRAINED", raising=False)
    quick = recipes.Settings.for_hardware(quick=True)
    assert (quick.mode, quick.size, quick.epochs, quick.base_filters) == ("quick", 64, 2, 8)
    cpu = recipes.Settings()
    assert (cpu.mode, cpu.size, cpu.patients, cpu.epochs) == ("cpu", 64, 120, 36)
    with pytest.raises(TypeError):
        recipes.Settings("cpu", 64)  # keywords only: no guessing which number is which
    from i2i_keras import hardware

    monkeypatch.setattr(hardware, "has_gpu", lambda: True)  # a Colab GPU runtime
    gpu = recipes.Settings.for_hardware(quick=False)
    assert (gpu.mode, gpu.size, gpu.precision) == ("gpu", 256, "mixed_float16")
    monkeypatch.setenv("I2I_PRETRAINED", "1")
    assert recipes.Settings.for_hardware(quick=False) == cpu  # the shipped weights' settings


def test_dtype_policy_builds_in_its_policy_and_restores_the_previous_one_after_an_error():
    from i2i_keras import hardware, models

    keras.mixed_precision.set_global_policy("float32")
    with hardware.dtype_policy("mixed_bfloat16"):
        net = models.unet((32, 32, 1), depth=2, base_filters=4)
    assert net.layers[1].dtype_policy.name == "mixed_bfloat16"
    assert net.layers[-1].dtype_policy.name == "float32"  # the output layer's own
    with pytest.raises(RuntimeError), hardware.dtype_policy("mixed_bfloat16"):
        raise RuntimeError("a failed build")
    assert keras.config.dtype_policy().name == "float32"


def test_split_report_and_table_in_hu():
    data = phantoms.mr_ct_pairs(range(6), 2, size=32, progress=False)
    parts = datasets.split_pairs(data, seed=0)
    assert sum(len(p["x"]) for p in parts.values()) == 12
    for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
        assert not set(parts[a]["patient"]) & set(parts[b]["patient"])
    test = parts["test"]
    reports = metrics.report({"truth": test["ct"], "plus 10 HU": test["ct"] + 10.0}, test)
    assert reports["truth"]["MAE body (HU)"] == 0.0
    assert reports["plus 10 HU"]["ME body (HU)"] == pytest.approx(10.0)
    assert reports["plus 10 HU"]["MAE bone (HU)"] == pytest.approx(10.0)
    table = metrics.format_table(reports).splitlines()
    assert table[0].split() == ["truth", "plus", "10", "HU"]
    assert len(table) == 1 + len(reports["truth"])


def test_quickstart_is_only_the_quickstart_and_leaves_the_policy_alone(tmp_path):
    assert len(inspect.getsource(quickstart).splitlines()) <= 120
    assert [n for n, f in vars(quickstart).items() if inspect.isfunction(f)
            and f.__module__ == quickstart.__name__] == ["run", "main"]
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        result = quickstart.run(quick=True, out=tmp_path, verbose=0)
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert result["settings"].mode == "quick"
    assert np.isfinite(result["reports"]["pix2pix"]["MAE body (HU)"])
    assert (tmp_path / "mr_to_ct_generator.keras").exists()
