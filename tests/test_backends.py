"""The trainers on every Keras backend: TensorFlow always, JAX and PyTorch where they
are installed (``pip install -e ".[jax,torch]"``; a missing one is skipped).

Keras fixes its backend at import, so each backend runs tests/backend_worker.py in a
subprocess with KERAS_BACKEND set, from the same initial networks and data saved here:
a tiny fit of each trainer, two train steps on one batch, and the Pix2Pix generator it
trained saved as ``.keras`` and loaded by the backends that run after it (and by this
process, at the end).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from i2i_keras import datasets, models, phantoms, training

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")
# Two SGD steps from the same weights on the same batch: the first step's losses are one
# forward pass, the second's also depend on the first step's gradients. In float32 the
# three backends agreed to 4e-7 (relative) here, except the CycleGAN's second step on
# JAX: up to 4e-4. Its cycle runs one generator on the other's output, which makes it
# ill-conditioned (a 1e-6 change of the input moves its gradient by 1e-5), and jax.jit on
# the CPU fuses tanh into an approximation that puts its gradients ~3% off float64 (plain
# Keras + JAX without i2i_keras does the same; TF, torch and JAX without jit: 1e-5).
STEP_RTOL = 1e-5  # every first step; the second of Pix2Pix and Supervised
CYCLEGAN_SECOND_STEP_RTOL = 2e-3
PREDICT_ATOL = 1e-5  # a saved generator, loaded on another backend


def installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{backend: the worker's JSON, or the error it died with}, for installed backends."""
    work = tmp_path_factory.mktemp("backends")
    d = phantoms.mr_ct_pairs(range(4), 4, size=32, progress=False, fov_mm=220.0)
    np.savez(work / "data.npz", x=datasets.normalize_mr(d["mr"])[..., None],
             y=datasets.CT_WINDOW.normalize(d["ct"])[..., None])
    keras.utils.set_random_seed(0)
    shape = (32, 32, 1)
    nets = {"p2p_g": models.unet(shape, depth=2, base_filters=8),
            "p2p_d": models.patchgan(shape, n_layers=1, base_filters=8),
            "cyc_gab": models.unet(shape, depth=2, base_filters=8),
            "cyc_gba": models.unet(shape, depth=2, base_filters=8),
            "cyc_da": models.patchgan(shape, n_layers=1, base_filters=8, conditional=False),
            "cyc_db": models.patchgan(shape, n_layers=1, base_filters=8, conditional=False),
            "sup": models.unet(shape, depth=2, base_filters=8, residual=True)}
    for name, net in nets.items():
        net.save(work / f"init_{name}.keras")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = {}
    for backend in filter(installed, BACKENDS):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(ROOT / "tests" / "backend_worker.py"),
                               str(work)], env={**env, "KERAS_BACKEND": backend},
                              capture_output=True, text=True, timeout=600)
        result = work / f"{backend}.json"
        out[backend] = (json.loads(result.read_text()) if proc.returncode == 0
                        else f"worker failed on {backend}:\n{proc.stderr[-4000:]}")
        print(f"{backend}: {time.perf_counter() - start:.0f} s")  # shown with pytest -s
    out["work"] = work
    return out


def result(runs, backend):
    if not installed(backend):
        pytest.skip(f"{backend} is not installed")
    if isinstance(runs[backend], str):
        pytest.fail(runs[backend])
    assert runs[backend]["backend"] == backend
    return runs[backend]


# The tiny fits are deterministic (shared initial weights, plain SGD, shuffle=False): the
# last epoch's monitored loss over the first's, measured on each backend (TF / JAX / torch):
# pix2pix L1 x 0.768 / 0.759 / 0.758, CycleGAN cycle x 0.376 / 0.436 / 0.395 (JAX's jit
# tanh, see STEP_RTOL), supervised L2 x 0.781 on all three. The bar x 0.9 is 15 % above
# the highest.
FIT_RATIO_BAR = 0.9


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_fit_lowers_the_loss_on_each_backend(runs, backend):
    fits = result(runs, backend)["fit"]
    for kind, fit in fits.items():
        assert np.isfinite([fit["first"], fit["last"]]).all(), (kind, fit)
        print(f"{backend} {kind}: {fit['watch']} x {fit['last'] / fit['first']:.3f}")
        assert fit["last"] < FIT_RATIO_BAR * fit["first"], (kind, fit)
    assert {"g_loss", "d_loss", "l1", "psnr", "val_l1", "val_psnr"} <= set(
        fits["pix2pix"]["keys"])
    assert {"g_loss", "d_loss", "cycle", "identity"} <= set(fits["cyclegan"]["keys"])


def test_one_step_losses_agree_across_backends(runs):
    done = [b for b in BACKENDS if installed(b)]
    if len(done) < 2:
        pytest.skip("only one backend is installed")
    reference = result(runs, "tensorflow")["steps"]
    for backend in done[1:]:
        steps = result(runs, backend)["steps"]
        for kind, (first, second) in reference.items():
            where = f"{kind} on {backend} against tensorflow"
            np.testing.assert_allclose(steps[kind][0], first, rtol=STEP_RTOL, err_msg=where)
            np.testing.assert_allclose(
                steps[kind][1], second, err_msg=where,
                rtol=CYCLEGAN_SECOND_STEP_RTOL if kind == "cyclegan" else STEP_RTOL)


def test_a_saved_generator_predicts_the_same_on_every_backend(runs):
    done = [b for b in BACKENDS if installed(b)]
    if len(done) < 2:
        pytest.skip("only one backend is installed")
    for i, backend in enumerate(done):
        loaded = result(runs, backend)["loaded"]
        assert set(loaded) == set(done[:i])  # every earlier backend's generator
        assert max(loaded.values(), default=0.0) < PREDICT_ATOL, (backend, loaded)
    # And this process (the suite's backend) loads the later ones.
    work = runs["work"]
    x = np.load(work / "data.npz")["x"][:4]
    for backend in done[1:]:
        g = keras.saving.load_model(work / f"{backend}_generator.keras")
        np.testing.assert_allclose(g.predict(x, verbose=0),
                                   np.load(work / f"{backend}_prediction.npy"),
                                   atol=PREDICT_ATOL)


def test_callbacks_and_summary_see_both_gan_optimizers():
    """A GAN's optimizer, as Keras sees it, is both of its optimizers (OptimizerGroup):
    LearningRateScheduler sets both rates, summary counts both optimizers' slots."""
    keras.utils.set_random_seed(0)
    gan = training.Pix2Pix(models.unet((32, 32, 1), depth=1, base_filters=4),
                           models.patchgan((32, 32, 1), n_layers=1, base_filters=4))
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    x = np.zeros((4, 32, 32, 1), "float32")
    h = gan.fit(x, x, batch_size=4, epochs=2, verbose=0, callbacks=[
        keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr / 2)]).history
    assert float(gan.g_optimizer.learning_rate) == float(gan.d_optimizer.learning_rate) == \
        pytest.approx(2.5e-4)
    assert int(gan.optimizer.iterations.numpy()) == 2 and len(h["g_loss"]) == 2
    lines = []
    gan.summary(print_fn=lambda line, **kwargs: lines.append(line))
    count = sum(int(np.prod(v.shape)) for v in gan.optimizer.variables)
    assert count > 2 * gan.count_params()  # Adam: two slots a weight, both nets
    assert any(f"Optimizer params: {count:,}" in line for line in lines)
