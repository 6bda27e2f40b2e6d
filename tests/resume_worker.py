"""A tiny CycleGAN fit that tests/test_resume.py runs, kills and resumes in a process of
its own: ``python resume_worker.py BACKUP_DIR OUT.npz [--kill-marker F] [--start-after F]``.

With --kill-marker, the fit writes that file in the middle of its third epoch (after two
of its steps) and then waits to be killed there. Otherwise it trains to the end and
saves every variable of the trainer (weights, both optimizers, image pools, random
states) to OUT.npz, and prints the epochs it ran as JSON. With --start-after it gets
ready (imports, data, networks) and waits for that file before it calls fit.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from i2i_keras import datasets, models, training

EPOCHS, KILL_EPOCH, KILL_AFTER_STEPS = 4, 2, 2

parser = argparse.ArgumentParser()
parser.add_argument("backup_dir")
parser.add_argument("out", type=Path)
parser.add_argument("--kill-marker", type=Path)
parser.add_argument("--start-after", type=Path)
args = parser.parse_args()

tf.config.experimental.enable_op_determinism()  # see test_resume.py
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
a = np.tanh(rng.normal(size=(10, 16, 16))).astype("float32")
b = np.tanh(rng.normal(size=(8, 16, 16))).astype("float32")
train = datasets.unpaired_dataset(a, b, batch_size=2, augment=True, max_shift=2, seed=0)
steps = len(b) // 2  # min(10, 8) // 2 = 4 steps an epoch

shape = (16, 16, 1)
gan = training.CycleGAN(
    models.unet(shape, depth=1, base_filters=4, norm="instance"),
    models.unet(shape, depth=1, base_filters=4, norm="instance"),
    models.patchgan(shape, n_layers=1, base_filters=4, conditional=False),
    models.patchgan(shape, n_layers=1, base_filters=4, conditional=False),
    pool_size=3)  # full after two steps: later steps draw from it
# The learning rate decays linearly to 0 over the run (its position: the step count).
gan.compile(training.adam(2e-3, EPOCHS * steps, 0.25), training.adam(2e-3, EPOCHS * steps, 0.25))


class KillHere(keras.callbacks.Callback):
    """Mid-epoch: say so to the parent, then wait for its SIGKILL."""

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == KILL_EPOCH and batch + 1 == KILL_AFTER_STEPS:
            args.kill_marker.write_text(json.dumps({"epoch": self.epoch, "batch": batch}))
            time.sleep(120)
            sys.exit("not killed")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


callbacks = [training.BackupAndRestore(args.backup_dir, data=train)]
if args.kill_marker is not None:
    callbacks.append(KillHere())
while args.start_after is not None and not args.start_after.exists():
    time.sleep(0.05)
history = gan.fit(train, epochs=EPOCHS, verbose=0, callbacks=callbacks)
values = [np.asarray(v.numpy()) for v in training.state_variables(gan)]
np.savez(args.out, *values)
print(json.dumps({"epochs": history.epoch, "iterations": int(gan.g_optimizer.iterations)}))
