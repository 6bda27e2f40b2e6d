"""Resume after a kill: a CycleGAN fit killed (SIGKILL, the process, not an exception)
in the middle of an epoch, then run again, ends with the weights of an uninterrupted
run of the same seed, exactly.

The worker (tests/resume_worker.py) trains a tiny CycleGAN (16x16, two U-Nets, two
PatchGANs) whose state covers everything a resume must restore: two optimizers (Adam
moments and step counts), a linear learning-rate decay that reads the step count, two
ImagePools (full after two steps, so later steps draw from them at random), the random
generators' states, and an augmented, shuffled unpaired data set whose order and
augmentation must be those of the resumed epoch.

Equality is exact: both runs do the same float operations in the same order. The worker
switches on TensorFlow's op determinism, so that no kernel may sum in a thread-dependent
order (the runs share two cores with each other); the test then holds to the last bit.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("resume_worker.py")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}


def _start(tmp_path: Path, name: str, *args, backend: str = "tensorflow") -> subprocess.Popen:
    with open(tmp_path / f"{name}.log", "w") as log:  # the process keeps its own copy
        return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)],
                                env={**ENV, "KERAS_BACKEND": backend},
                                stdout=log, stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen, tmp_path: Path, name: str) -> dict:
    process.wait(timeout=300)
    text = (tmp_path / f"{name}.log").read_text()
    assert process.returncode == 0, text[-3000:]
    return json.loads(text.strip().splitlines()[-1])


# On JAX the data come from i2i_keras.batches (NumPy, no tf.data): the same guarantee.
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_killed_fit_resumes_to_the_uninterrupted_weights(tmp_path, backend):
    backup, marker, go = tmp_path / "backup", tmp_path / "killed_here.json", tmp_path / "go"
    whole = _start(tmp_path, "whole", tmp_path / "whole_backup", tmp_path / "whole.npz",
                   backend=backend)
    killed = _start(tmp_path, "killed", backup, tmp_path / "unused.npz", "--kill-marker", marker,
                    backend=backend)
    # The second run gets ready meanwhile (imports, networks) and starts fit after the kill.
    again = _start(tmp_path, "resumed", backup, tmp_path / "resumed.npz", "--start-after", go,
                   backend=backend)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert killed.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "the worker never reached the kill point"
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    # Killed after two steps of epoch 3 (of 4): the backup holds epochs 1 and 2 only.
    assert json.loads(marker.read_text()) == {"epoch": 2, "batch": 1}
    assert json.loads((backup / "latest.json").read_text())["epoch"] == 2
    go.touch()

    resumed = _finish(again, tmp_path, "resumed")
    assert "resuming after epoch 2" in (tmp_path / "resumed.log").read_text()
    assert resumed == {"epochs": [2, 3], "iterations": 16}  # 4 epochs x 4 steps in all
    assert not backup.exists()  # removed when the fit ended

    assert _finish(whole, tmp_path, "whole") == {"epochs": [0, 1, 2, 3], "iterations": 16}
    with np.load(tmp_path / "whole.npz") as a, np.load(tmp_path / "resumed.npz") as b:
        assert a.files == b.files and len(a.files) > 50
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_kill_while_a_backup_is_written_leaves_the_last_whole_one(tmp_path, capsys):
    """A half-written backup (the kill came during the save) is never read: the rename
    that would make it the latest never happened."""
    import keras

    from i2i_keras import datasets, models, training

    x = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16)).astype("float32")

    def net():
        keras.utils.set_random_seed(0)
        trainer = training.Supervised(models.unet((16, 16, 1), depth=1, base_filters=4))
        trainer.compile(keras.optimizers.Adam(1e-3), loss="l1")
        return trainer

    data = datasets.paired_dataset(x, -x, 4, augment=True, seed=0)
    first = net()
    first.fit(data, epochs=2, verbose=0,
              callbacks=[training.BackupAndRestore(tmp_path, data, delete_when_done=False)])
    (tmp_path / "epoch-3.npz.partial").write_bytes(b"PK\x03\x04 cut short by SIGKILL")
    again = net()
    backup = training.BackupAndRestore(tmp_path, data, delete_when_done=False)
    history = again.fit(data, epochs=3, verbose=0, callbacks=[backup])
    assert "resuming after epoch 2" in capsys.readouterr().out and history.epoch == [2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-3.npz", "latest.json"]

    other = training.Supervised(models.unet((16, 16, 1), depth=2, base_filters=4))
    other.compile(keras.optimizers.Adam(1e-3), loss="l1")
    with pytest.raises(ValueError, match="made by another model"):
        other.fit(data, epochs=4, verbose=0, callbacks=[training.BackupAndRestore(tmp_path)])
