"""Run by tests/test_gan_stabilisation.py in a subprocess, one per Keras backend:

    KERAS_BACKEND=jax python tests/gan_backend_worker.py WORKDIR

WORKDIR holds ``data.npz`` (x, y: (8, 32, 32, 1) pairs in [-1, 1]; eps: (4,) the
interpolation weights of the penalty) and the initial networks ``init_g.keras`` and
``init_d_sn.keras`` (a conditional PatchGAN with spectral norm). This script writes
``WORKDIR/<backend>.json`` with

- ``gp_quadratic``: the gradient penalty of the critic f(z) = z² at x, y with ``eps``
  (the test compares it with the value worked out by hand);
- ``gp_patchgan``: the penalty of the saved PatchGAN (condition x[:4]) at y[:4] and
  x[:4] with ``eps`` (the same on every backend);
- ``sigma_loaded``: each spectral-norm layer's sigma estimate from its saved u;
- ``train``: after 3 steps of a WGAN-GP Pix2Pix with n_critic = 2: the losses (finite),
  both optimizers' step counts, whether every u moved, and per layer the kernel's
  largest singular value (SVD) next to the layer's estimate;
- ``reload_max_diff``: the trained discriminator saved and loaded with safe_mode, the
  largest difference of its logits;
- ``health``: the GANHealth history of that training.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np
from keras import ops

from i2i_keras import gan_health, losses, models, training


def sn_layers(d):
    return [layer for layer in d.layers if isinstance(layer, models.SpectralConv2D)]


def main(work: Path) -> None:
    backend = keras.backend.backend()
    data = np.load(work / "data.npz")
    x, y, eps = data["x"], data["y"], data["eps"]
    out = {"backend": backend}
    out["gp_quadratic"] = float(losses.gradient_penalty(ops.square, y[:4], x[:4], epsilon=eps))
    d = keras.saving.load_model(work / "init_d_sn.keras")
    cond = ops.convert_to_tensor(x[:4])
    out["gp_patchgan"] = float(losses.gradient_penalty(
        lambda image: d([cond, image], training=False), y[:4], x[:4], epsilon=eps))
    out["sigma_loaded"] = [float(layer.sigma()) for layer in sn_layers(d)]

    u_before = [np.array(layer.u.numpy()) for layer in sn_layers(d)]
    gan = training.Pix2Pix(keras.saving.load_model(work / "init_g.keras"), d)
    gan.compile(keras.optimizers.SGD(0.01), keras.optimizers.SGD(0.01), gan_loss="wgan-gp",
                n_critic=2)
    health = gan_health.GANHealth(x[:4], y[:4], every=1, verbose=False)
    h = gan.fit(x, y, batch_size=4, epochs=1, steps_per_epoch=2, shuffle=False, verbose=0,
                callbacks=[health]).history
    logs = gan.train_on_batch(x[:4], y[:4], return_dict=True)
    out["train"] = {
        "losses": {k: float(v) for k, v in logs.items()},
        "fit_keys": sorted(h),
        "g_steps": int(gan.g_optimizer.iterations.numpy()),
        "d_steps": int(gan.d_optimizer.iterations.numpy()),
        "u_moved": [bool(np.abs(np.array(layer.u.numpy()) - u0).max() > 1e-6)
                    for layer, u0 in zip(sn_layers(d), u_before)],
        "largest_singular": [float(np.linalg.svd(np.reshape(layer.kernel.numpy(),
                                                            (-1, layer.filters)),
                                                 compute_uv=False)[0]) for layer in sn_layers(d)],
        "sigma": [float(layer.sigma()) for layer in sn_layers(d)],
    }
    path = work / f"{backend}_d.keras"
    d.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    a = ops.convert_to_numpy(d([cond, ops.convert_to_tensor(y[:4])], training=False))
    b = ops.convert_to_numpy(again([cond, ops.convert_to_tensor(y[:4])], training=False))
    out["reload_max_diff"] = float(np.abs(a - b).max())
    out["health"] = health.history
    (work / f"{backend}.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
