"""Safe loading: every ``.keras`` file the project writes, and every weight file it ships,
loads without running code from the file.

Keras' ``load_model(..., safe_mode=True)`` (the default) refuses a file that would
rebuild a Python lambda; the library's layers, losses and schedules are registered
classes, so its files pass it. ``.weights.h5`` files hold arrays only: each shipped one
is checked to contain nothing but numeric datasets, then loaded, through the project's
own loader (which checks its SHA-256 in weights/pretrained.json), into the network its
tutorial builds. No module of the library reads pickles.
"""

import json
import re
import types
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from i2i_keras import losses, models, pretrained, recipes, recon, training

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "i2i_keras" / "weights"
SHAPE = (16, 16, 1)


def _reloads_the_same(model, path: Path, x=None):
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    if x is not None:
        np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                                   atol=1e-6)
    return again


@pytest.mark.parametrize("build", [
    lambda: models.unet(SHAPE, depth=2, base_filters=4),
    lambda: models.unet(SHAPE, depth=2, base_filters=4, norm="batch", upsampling="resize",
                        dropout=0.1, residual=True),
    lambda: models.unet((None, None, 1), depth=2, base_filters=4, norm="none", residual=True),
    lambda: models.pix2pix_generator((32, 32, 3), base_filters=4, max_filters=8),
    lambda: models.resnet_generator(SHAPE, base_filters=4, n_blocks=2),
    lambda: models.patchgan(SHAPE, n_layers=1, base_filters=4),
    lambda: models.patchgan(SHAPE, n_layers=1, base_filters=4, conditional=False,
                            windows=[(-0.5, 0.5)]),
    lambda: models.srcnn((None, None, 1), filters=(8, 4), residual=True),
], ids=["unet", "unet_variants", "unet_residual_any_size", "pix2pix_generator",
        "resnet_generator", "patchgan", "patchgan_windows", "srcnn"])
def test_every_network_builder_saves_a_safe_keras_file(build, tmp_path):
    keras.utils.set_random_seed(0)
    net = build()
    shapes = net.input_shape if isinstance(net.input_shape, list) else [net.input_shape]
    x = [np.random.default_rng(0).uniform(-1, 1, (2,) + tuple(d or 16 for d in s[1:]))
         .astype("float32") for s in shapes]
    _reloads_the_same(net, tmp_path / "net.keras", x if len(x) > 1 else x[0])


def _unet():
    return models.unet(SHAPE, depth=1, base_filters=4)


def _critic(conditional=True, **kw):
    return models.patchgan(SHAPE, n_layers=1, base_filters=4, conditional=conditional, **kw)


@pytest.mark.parametrize("kind", ["pix2pix", "srgan", "cyclegan", "supervised",
                                  "supervised_mix"])
def test_every_trainer_checkpoint_is_a_safe_keras_file(kind, tmp_path):
    """What ModelCheckpoint writes: the whole trainer with its optimizers and losses."""
    keras.utils.set_random_seed(0)
    if kind in ("pix2pix", "srgan"):
        trainer = training.Pix2Pix(_unet(), _critic())
        extra = losses.PerceptualLoss() if kind == "srgan" else None
        trainer.compile(training.adam(1e-3, 10), training.adam(1e-3, 10), extra_loss=extra)
    elif kind == "cyclegan":
        trainer = training.CycleGAN(_unet(), _unet(), _critic(False),
                                    _critic(False, windows=[(-0.5, 0.5)]), pool_size=2)
        trainer.compile(training.adam(1e-3, 10, 0.5), training.adam(1e-3, 10, 0.5),
                        lambda_tv=0.1, lambda_air=1.0)
    else:
        trainer = training.Supervised(_unet())
        loss = losses.gradient_difference if kind == "supervised" else {"l1": 1.0, "ssim": 0.5}
        trainer.compile(keras.optimizers.Adam(training.ScaledSchedule(
            training.LinearDecay(1e-3, 10), 0.5)), loss=loss)
    trainer.optimizer.build(trainer.trainable_variables)  # the optimizer state is saved too
    x = np.random.default_rng(0).uniform(-1, 1, (2,) + SHAPE).astype("float32")
    again = _reloads_the_same(trainer, tmp_path / "trainer.keras", x)
    assert type(again) is type(trainer)
    for name in ("g_optimizer", "d_optimizer", "loss_spec", "extra_loss"):  # compiled as before
        if hasattr(trainer, name):
            old, new = getattr(trainer, name), getattr(again, name)
            assert type(old) is type(new) and (not hasattr(old, "get_config")
                                               or old.get_config() == new.get_config())


def test_a_lambda_layer_is_refused_so_the_check_can_fail(tmp_path):
    net = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda t: t * 2)])
    net.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="unsafe"):
        keras.saving.load_model(tmp_path / "lambda.keras", safe_mode=True)


def test_the_shipped_keras_files_load_in_safe_mode():
    files = sorted(WEIGHTS.rglob("*.keras"))
    assert "feature_net.keras" in [f.name for f in files]  # the perceptual loss's network
    for file in files:
        net = keras.saving.load_model(file, safe_mode=True, compile=False)
        shape = (1,) + tuple(d or 32 for d in net.input_shape[1:])
        out = net.predict(np.zeros(shape, "float32"), verbose=0)
        assert np.isfinite(out).all()


def _architecture(key: str) -> keras.Model:
    """The network whose weights ``key`` (a weights/pretrained.json entry) holds, as its
    tutorial builds it in the CPU full run (the run that made the shipped weights)."""
    s = recipes.Settings()  # 00, 03 and 04: the MR -> CT U-Net at 64²
    if key.startswith(("00/", "03/", "04/")):
        return models.unet((s.size, s.size, 1), depth=s.depth, base_filters=s.base_filters,
                           norm="instance")
    if key.startswith("02/srcnn"):
        return models.srcnn((None, None, 1), residual=True)
    if key.startswith("05/unrolled_mri"):  # tutorial 05's hybrid (its CPU settings)
        return recon.unrolled_mri(64, iterations=4, base_filters=8, depth=2,
                                  learned_weight=True, initial_log_weight=4.0)
    if key.startswith("07/mr_ct_seed"):  # tutorial 07's MR -> CT U-Net with dropout
        return models.unet((64, 64, 1), depth=3, base_filters=16, norm="instance", dropout=0.2)
    if key.startswith("07/seg_"):  # tutorial 07's six-class CT segmenter
        return models.unet((64, 64, 1), out_channels=6, depth=3, base_filters=8,
                           norm="instance", output_activation="softmax")
    if key.startswith("08/"):  # tutorial 08's MR -> CT U-Net, no normalisation (tiles)
        return models.unet((None, None, 1), depth=3, base_filters=16, norm="none")
    if key.startswith("09/unet_3d"):  # tutorial 09's 3D U-Net on blocks, no normalisation
        return models.unet((None, None, None, 1), depth=3, base_filters=8, norm="none")
    if key.startswith("09/"):  # tutorial 09's 2D and 2.5D (three slices in) U-Nets
        return models.unet((None, None, 3 if key.startswith("09/unet_25d") else 1), depth=3,
                           base_filters=16, norm="none")
    if key.startswith("06/"):  # tutorial 06's small MR -> CT generator (best run, collapse)
        return models.unet((64, 64, 1), depth=3, base_filters=8, norm="instance")
    if key.startswith("05/"):  # tutorial 05's FBP + U-Nets and MRI U-Net: narrow (8 filters)
        return models.unet((None, None, 1), depth=3, base_filters=8, norm="none", residual=True)
    # 01 (denoising, PET), 02 (super-resolution): a residual U-Net.
    return models.unet((None, None, 1), depth=3, base_filters=16, norm="none", residual=True)


def _numeric_only(file: Path) -> list[str]:
    """Whatever in an HDF5 file is not a plain number array or a short plain attribute."""
    odd = []

    def visit(name, item):
        if isinstance(item, h5py.Dataset) and item.dtype.kind not in "fiub":
            odd.append(f"{name}: {item.dtype}")
        for key, value in item.attrs.items():
            if not isinstance(value, str | bytes | int | float | np.number | np.ndarray) or (
                    isinstance(value, np.ndarray) and value.dtype.kind == "O"):
                odd.append(f"{name}@{key}: {type(value).__name__}")

    with h5py.File(file, "r") as f:
        f.visititems(visit)
    return odd


MANIFEST = json.loads((WEIGHTS / "pretrained.json").read_text())
RUNS = sorted({key.rsplit(".", 3)[0] for key in MANIFEST})


@pytest.mark.parametrize("run", RUNS)
def test_each_shipped_weight_file_holds_arrays_only_and_loads(run, monkeypatch):
    monkeypatch.setenv("I2I_PRETRAINED", "1")
    parts = {key.rsplit(".", 3)[1]: key for key in MANIFEST if key.rsplit(".", 3)[0] == run}
    for key in parts.values():
        assert _numeric_only(WEIGHTS / key) == []
    keras.utils.set_random_seed(0)
    nets = {part: _architecture(key) for part, key in parts.items()}
    fresh = {part: [w.numpy() for w in net.weights] for part, net in nets.items()}
    pretrained.load(run, types.SimpleNamespace(**nets))  # checks each file's SHA-256
    for part, net in nets.items():
        inputs = [np.zeros((1, *(n or 32 for n in i.shape[1:])), "float32") for i in net.inputs]
        out = net.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
        assert np.isfinite(out).all()
        assert any(not np.array_equal(a, w.numpy()) for a, w in zip(fresh[part], net.weights))


def test_loading_weights_into_the_wrong_network_fails():
    """So the test above cannot pass by loading nothing."""
    net = models.unet((None, None, 1), depth=3, base_filters=16, norm="none", residual=True)
    with pytest.raises(ValueError):
        net.load_weights(WEIGHTS / "02" / "srcnn-phantom.network.weights.h5")


def test_the_library_reads_no_pickles():
    """No module of i2i_keras uses pickle (or torch.load, np.load with allow_pickle, or
    Keras' unsafe deserialisation): the words do not appear in its source."""
    unsafe = re.compile(r"pickle|torch\.load|safe_mode\s*=\s*False|unsafe_deserial", re.I)
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in sorted((ROOT / "i2i_keras").rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if unsafe.search(line)]
    assert found == []
