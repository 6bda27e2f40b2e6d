"""The GAN stabilisers: spectral norm, the WGAN gradient penalty, n_critic, label
smoothing, instance noise and the training-health callback; on TensorFlow here and on
every installed backend through tests/gan_backend_worker.py (a subprocess per backend,
as tests/test_backends.py does)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from i2i_keras import gan_health, losses, models, training

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")


def numpy_power_iteration(w: np.ndarray, u: np.ndarray, steps: int):
    """(u, sigma) after ``steps`` power iterations on the matrix w from u, in float64."""
    for _ in range(steps):
        v = u @ w.T
        v /= np.linalg.norm(v)
        u = v @ w
        u /= np.linalg.norm(u)
    return u, float((v @ w @ u.T).item())


def kernel_matrix(layer) -> np.ndarray:
    return np.reshape(np.array(layer.kernel.numpy(), "float64"), (-1, layer.filters))


# -- spectral norm ----------------------------------------------------------------------

def test_one_training_call_is_one_power_iteration_step():
    conv = models.SpectralConv2D(6, 4, padding="same")
    conv.build((None, 8, 8, 3))
    w, u0 = kernel_matrix(conv), np.array(conv.u.numpy(), "float64")
    conv(np.ones((1, 8, 8, 3), "float32"), training=True)
    u1, sigma1 = numpy_power_iteration(w, u0, 1)
    np.testing.assert_allclose(conv.u.numpy(), u1, atol=1e-5)
    # An inference call uses the stored u without changing it.
    conv(np.ones((1, 8, 8, 3), "float32"), training=False)
    np.testing.assert_allclose(conv.u.numpy(), u1, atol=1e-5)
    u2, sigma2 = numpy_power_iteration(w, u1, 1)
    np.testing.assert_allclose(float(conv.sigma()), sigma2, rtol=1e-5)


def test_sigma_converges_to_the_largest_singular_value():
    conv = models.SpectralConv2D(8, 3, padding="same")
    conv.build((None, 8, 8, 4))
    # A kernel with a known spectrum: largest singular value 2, the next 1. Power iteration
    # shrinks the error by (1/2)² a step, so 50 steps converge from any start u. (A random
    # kernel's two largest can be close; then 50 steps are not enough, as CI once saw.)
    rng = np.random.default_rng(0)
    left, _ = np.linalg.qr(rng.normal(size=(3 * 3 * 4, 8)))
    right, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    w = (left * np.array([2.0, 1.0, 0.9, 0.8, 0.5, 0.4, 0.2, 0.1])) @ right.T
    conv.kernel.assign(np.reshape(w, (3, 3, 4, 8)).astype("float32"))
    u0 = np.array(conv.u.numpy(), "float64")
    for _ in range(50):  # 50 training calls: 50 power-iteration steps
        conv(np.zeros((1, 8, 8, 4), "float32"), training=True)
    _, reference = numpy_power_iteration(w, u0, 51)  # sigma() runs one more step
    assert float(conv.sigma()) == pytest.approx(reference, rel=1e-5)
    assert float(conv.sigma()) == pytest.approx(2.0, rel=1e-5)
    # The convolution uses W / sigma: its output is the plain conv's divided by sigma.
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    plain = keras.layers.Conv2D(8, 3, padding="same")
    plain.build(x.shape)
    plain.set_weights([np.asarray(conv.kernel.numpy()), np.asarray(conv.bias.numpy())])
    expected = ops.convert_to_numpy(plain(x)) / float(conv.sigma())  # bias is zero
    np.testing.assert_allclose(ops.convert_to_numpy(conv(x)), expected, rtol=1e-4, atol=1e-5)


def test_patchgan_spectral_norm_option_saves_and_loads(tmp_path):
    d = models.patchgan((32, 32, 1), n_layers=2, base_filters=8, norm="none",
                        spectral_norm=True)
    convs = [layer for layer in d.layers if "conv" in type(layer).__name__.lower()]
    assert convs and all(isinstance(c, models.SpectralConv2D) for c in convs)
    plain = models.patchgan((32, 32, 1), n_layers=2, base_filters=8, norm="none")
    # Same weights and shapes; the u vectors are the only extra (non-trainable) weights.
    assert d.count_params() - plain.count_params() == sum(c.filters for c in convs)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
    d([x, x], training=True)  # moves u
    d.save(tmp_path / "d.keras")
    again = keras.saving.load_model(tmp_path / "d.keras", safe_mode=True)
    np.testing.assert_allclose(ops.convert_to_numpy(again([x, x])),
                               ops.convert_to_numpy(d([x, x])), atol=1e-6)


# -- the gradient penalty ---------------------------------------------------------------

def quadratic_penalty_by_hand(real, fake, eps):
    """f(z) = mean(z²) per image: grad = 2 x_hat / N, norm 2 |x_hat| / N."""
    x_hat = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake
    n = x_hat[0].size
    norms = 2 * np.sqrt((x_hat.reshape(len(x_hat), -1) ** 2).sum(1)) / n
    return float(np.mean((norms - 1) ** 2))


def test_gradient_penalty_matches_the_hand_computed_value():
    rng = np.random.default_rng(2)
    real, fake = (rng.uniform(-1, 1, (3, 4, 4, 1)).astype("float32") * 8 for _ in range(2))
    eps = np.array([0.0, 0.3, 1.0], "float32")
    got = float(losses.gradient_penalty(ops.square, real, fake, epsilon=eps))
    assert got == pytest.approx(quadratic_penalty_by_hand(real, fake, eps), rel=1e-5)
    # A linear critic f = mean(c z): norm |c| / sqrt(N) whatever eps; N = 16, c = 4: 1.
    def linear(c):
        return float(losses.gradient_penalty(lambda z: c * z, real, fake))

    assert linear(4.0) == pytest.approx(0.0, abs=1e-8)
    assert linear(2.0) == pytest.approx(0.25, rel=1e-5)


def test_gradient_penalty_is_per_image_and_trains_the_critic():
    # Two images through one 1x1-conv critic (weight w): per image the slope is w / N, so
    # the penalty (|w| / sqrt(N) - 1)^2 and its derivative in w is known.
    import tensorflow as tf

    critic = keras.Sequential([keras.Input((4, 4, 1)),
                               keras.layers.Conv2D(1, 1, use_bias=False)])
    critic.set_weights([np.full((1, 1, 1, 1), 2.0, "float32")])
    real = np.ones((2, 4, 4, 1), "float32")
    with tf.GradientTape() as tape:
        gp = losses.gradient_penalty(critic, real, -real)
    (grad,) = tape.gradient(gp, critic.trainable_variables)
    assert float(gp) == pytest.approx((2.0 / 4 - 1) ** 2, rel=1e-5)
    assert float(np.ravel(grad)[0]) == pytest.approx(2 * (2.0 / 4 - 1) / 4, rel=1e-4)


# -- Pix2Pix options --------------------------------------------------------------------

def tiny_gan(**compile_kwargs) -> training.Pix2Pix:
    keras.utils.set_random_seed(0)
    gan = training.Pix2Pix(models.unet((16, 16, 1), depth=1, base_filters=4),
                           models.patchgan((16, 16, 1), n_layers=1, base_filters=4))
    gan.compile(keras.optimizers.SGD(0.01), keras.optimizers.SGD(0.01), **compile_kwargs)
    return gan


def pairs(n=8, size=16, seed=0):
    x = np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 1)).astype("float32")
    return x, np.tanh(2 * x)


def test_wgan_gp_critic_loss_is_wasserstein_plus_ten_times_the_penalty():
    gan = tiny_gan(gan_loss="wgan-gp")
    x, y = (ops.convert_to_tensor(a) for a in pairs(4))
    (_, d_loss), logs = gan.compute_losses(x, y)
    fake = gan.generator(x, training=True)
    real_logits = gan.discriminator([x, y], training=True)
    fake_logits = gan.discriminator([x, fake], training=True)
    wasserstein = float(ops.mean(fake_logits) - ops.mean(real_logits))
    assert float(logs["gp"]) > 0
    assert float(d_loss) == pytest.approx(wasserstein + 10.0 * float(logs["gp"]), rel=1e-5)


def test_n_critic_updates_the_discriminator_n_times_per_generator_step():
    gan = tiny_gan(gan_loss="wgan-gp", n_critic=3)
    x, y = pairs()
    history = gan.fit(x, y, batch_size=4, epochs=1, verbose=0).history
    assert int(gan.g_optimizer.iterations.numpy()) == 2
    assert int(gan.d_optimizer.iterations.numpy()) == 6
    assert "gp" in history and np.isfinite(history["gp"]).all()


def test_vanilla_lsgan_hinge_are_unchanged_by_the_new_options():
    x, y = (ops.convert_to_tensor(a) for a in pairs(4))
    for kind in ("vanilla", "lsgan", "hinge"):
        gan = tiny_gan(gan_loss=kind)
        (g, d), logs = gan.compute_losses(x, y)
        fake = gan.generator(x, training=True)
        d_fn, g_fn = losses.adversarial_loss(kind)
        real_logits = gan.discriminator([x, y], training=True)
        fake_logits = gan.discriminator([x, fake], training=True)
        assert float(d) == pytest.approx(float(d_fn(real_logits, fake_logits)), rel=1e-6)
        assert "gp" not in logs and "gp" not in [m.name for m in gan.metrics]


def test_one_sided_label_smoothing():
    d_loss, _ = losses.adversarial_loss("vanilla", real_label=0.9)
    real, fake = np.full((1, 2, 2, 1), 3.0, "float32"), np.full((1, 2, 2, 1), -3.0, "float32")
    softplus = np.log1p(np.exp([-3.0, 3.0]))  # log(1 + e^-3), log(1 + e^3)
    by_hand = 0.5 * ((0.9 * softplus[0] + 0.1 * softplus[1]) + softplus[0])
    assert float(d_loss(real, fake)) == pytest.approx(by_hand, rel=1e-5)
    d_ls, _ = losses.adversarial_loss("lsgan", real_label=0.9)
    assert float(d_ls(np.full((1, 1), 0.9), np.zeros((1, 1)))) == pytest.approx(0.0)
    for kind in ("hinge", "wgan-gp"):
        with pytest.raises(ValueError, match="label smoothing"):
            losses.adversarial_loss(kind, real_label=0.9)


def test_instance_noise_changes_what_the_discriminator_sees():
    x, y = (ops.convert_to_tensor(a) for a in pairs(4))
    clean, noisy = tiny_gan(), tiny_gan(instance_noise=0.2)
    assert float(clean.compute_losses(x, y)[0][1]) == float(clean.compute_losses(x, y)[0][1])
    assert float(noisy.compute_losses(x, y)[0][1]) != float(noisy.compute_losses(x, y)[0][1])
    assert float(ops.std(noisy.noisy(y) - y)) == pytest.approx(0.2, rel=0.2)  # 1024 draws


def test_stabiliser_settings_survive_save_and_load(tmp_path):
    gan = tiny_gan(gan_loss="lsgan", label_smoothing=0.1, instance_noise=0.05, n_critic=2)
    x, y = pairs()
    gan.fit(x, y, batch_size=4, epochs=1, verbose=0)
    gan.save(tmp_path / "gan.keras")
    again = keras.saving.load_model(tmp_path / "gan.keras")
    assert (again.label_smoothing, again.instance_noise, again.n_critic) == (0.1, 0.05, 2)


# -- the health callback ----------------------------------------------------------------

def test_accuracy_thresholds_follow_the_loss():
    real, fake = np.array([0.6, 0.4]), np.array([0.2, 0.7])
    assert gan_health.d_accuracy(real, fake, "lsgan") == (0.5, 0.5)
    assert gan_health.d_accuracy(real, fake, "vanilla") == (1.0, 0.0)
    # WGAN: midpoint of the means (0.5 and 0.45): 0.475
    assert gan_health.d_accuracy(real, fake, "wgan-gp") == (0.5, 0.5)


def test_health_warns_in_words_once_each(capsys):
    x, y = pairs(4)
    health = gan_health.GANHealth(x, y, every=1, patience=2)
    won = {"acc_real": 1.0, "acc_fake": 0.99, "grad_norm": 30.0, "diversity": 0.1}
    health.measure = lambda: won
    for _ in range(4):
        health.on_train_batch_end(0)
    printed = capsys.readouterr().out
    assert printed.count("discriminator is winning") == 1
    assert printed.count("collapse is likely") == 1
    assert health.history["step"] == [1, 2, 3, 4] and len(health.warnings) == 2


def test_health_sees_a_collapsed_generator():
    gan = tiny_gan()
    x, y = pairs()
    collapsed = keras.Sequential([keras.Input((16, 16, 1)),
                                  keras.layers.Lambda(lambda t: 0.0 * t + 0.3)])
    gan.generator = collapsed
    health = gan_health.GANHealth(x, y, verbose=False)
    health.set_model(gan)
    values = health.measure()
    assert values["diversity"] == pytest.approx(0.0, abs=1e-6)
    assert 0.0 <= values["acc_real"] <= 1.0 and values["grad_norm"] > 0


# -- every backend ----------------------------------------------------------------------

def installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    work = tmp_path_factory.mktemp("gan_backends")
    x, y = pairs(8, 32, seed=3)
    eps = np.array([0.0, 0.25, 0.5, 1.0], "float32")
    np.savez(work / "data.npz", x=x, y=y, eps=eps)
    keras.utils.set_random_seed(0)
    models.unet((32, 32, 1), depth=1, base_filters=4).save(work / "init_g.keras")
    models.patchgan((32, 32, 1), n_layers=1, base_filters=4,
                    spectral_norm=True).save(work / "init_d_sn.keras")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = {"data": (x, y, eps)}
    for backend in filter(installed, BACKENDS):
        proc = subprocess.run([sys.executable, str(ROOT / "tests" / "gan_backend_worker.py"),
                               str(work)], env={**env, "KERAS_BACKEND": backend},
                              capture_output=True, text=True, timeout=600)
        out[backend] = (json.loads((work / f"{backend}.json").read_text())
                        if proc.returncode == 0 else f"failed on {backend}:\n{proc.stderr[-3000:]}")
    return out


def result(runs, backend):
    if not installed(backend):
        pytest.skip(f"{backend} is not installed")
    if isinstance(runs[backend], str):
        pytest.fail(runs[backend])
    return runs[backend]


@pytest.mark.parametrize("backend", BACKENDS)
def test_stabilisers_on_each_backend(runs, backend):
    r = result(runs, backend)
    x, y, eps = runs["data"]
    assert r["gp_quadratic"] == pytest.approx(quadratic_penalty_by_hand(y[:4], x[:4], eps),
                                              rel=1e-4)
    t = r["train"]
    assert np.isfinite(list(t["losses"].values())).all(), t["losses"]
    assert "gp" in t["fit_keys"]
    assert (t["g_steps"], t["d_steps"]) == (3, 6)  # n_critic = 2
    assert all(t["u_moved"])  # the power iteration's state is carried by the step
    # v W u^T with unit u, v never exceeds the largest singular value (Cauchy-Schwarz).
    assert all(s <= big * (1 + 1e-5) for s, big in zip(t["sigma"], t["largest_singular"]))
    assert r["reload_max_diff"] < 1e-5
    assert len(r["health"]["step"]) == 2
    assert all(0.0 <= a <= 1.0 for a in r["health"]["acc_real"] + r["health"]["acc_fake"])


def test_penalty_and_sigma_agree_across_backends(runs):
    done = [b for b in BACKENDS if installed(b) and not isinstance(runs[b], str)]
    if len(done) < 2:
        pytest.skip("needs two backends")
    first = runs[done[0]]
    for b in done[1:]:
        assert runs[b]["gp_patchgan"] == pytest.approx(first["gp_patchgan"], rel=1e-4)
        np.testing.assert_allclose(runs[b]["sigma_loaded"], first["sigma_loaded"], rtol=1e-5)
