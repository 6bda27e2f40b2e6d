"""Shipped weights: saved with their hashes, loaded instead of training, refused with a
clear message when missing or changed."""

import json

import keras
import numpy as np
import pytest

from i2i_keras import models, pretrained, training
from i2i_keras.io import I2IDataError


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "FOLDER", tmp_path)
    monkeypatch.setattr(pretrained, "MANIFEST", tmp_path / "pretrained.json")
    return tmp_path


def _trainer(seed):
    keras.utils.set_random_seed(seed)
    net = training.Supervised(models.unet((16, 16, 1), depth=1, base_filters=4))
    net.compile(keras.optimizers.Adam(1e-2), loss="l1")
    return net


def test_fit_saves_then_pretrained_mode_loads_without_training(folder, monkeypatch):
    x = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 1)).astype("float32")
    monkeypatch.setenv("I2I_SAVE_PRETRAINED", "1")
    trained = _trainer(0)
    history = pretrained.fit_or_load("99/demo", trained, x, -x, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    manifest = json.loads((folder / "pretrained.json").read_text())
    assert list(manifest) == ["99/demo.network.weights.h5"]

    monkeypatch.delenv("I2I_SAVE_PRETRAINED")
    monkeypatch.setenv("I2I_PRETRAINED", "1")
    fresh = _trainer(1)  # other initial weights...
    loaded = pretrained.fit_or_load("99/demo", fresh, x, -x, epochs=50, verbose=0)
    for a, b in zip(fresh.network.get_weights(), trained.network.get_weights()):
        np.testing.assert_array_equal(a, b)  # ...replaced by the saved ones, exactly
    assert loaded.history["loss"] == pytest.approx(history.history["loss"])
    assert int(fresh.optimizer.iterations) == 0  # and no step was taken


def test_missing_or_changed_weights_say_which_file_and_how_to_remake(folder, monkeypatch):
    monkeypatch.setenv("I2I_PRETRAINED", "1")
    with pytest.raises(I2IDataError, match=r"no pretrained weights .*99/demo\.network\.weights"
                                           r"\.h5: re-make them with `python data_scripts/"
                                           r"make_pretrained\.py`"):
        pretrained.fit_or_load("99/demo", _trainer(0))
    pretrained.save("99/demo", _trainer(0), {"loss": [1.0]})
    file = pretrained.path("99/demo", "network")
    file.write_bytes(file.read_bytes()[:-8] + b"damaged!")
    with pytest.raises(I2IDataError, match=r"do not match their SHA-256 .*/make_pretrained"):
        pretrained.fit_or_load("99/demo", _trainer(0))
