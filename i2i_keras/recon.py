"""Reconstruction from raw data: an iterative baseline, AUTOMAP, and a physics + network hybrid.

Three routes from a measurement (a CT sinogram, MRI k-space) to an image, after
tutorial 05:

* **classical, iterative**: :func:`tv_reconstruction`, total-variation-regularised least
  squares solved by the primal-dual algorithm of Chambolle and Pock (2011) on any
  :class:`~i2i_keras.physics.LinearOperator` (needs only ``A`` and ``A_adjoint``);
* **post-processing** (FBPConvNet, Jin et al. 2017): FBP, then a residual
  :func:`~i2i_keras.models.unet` (nothing new needed here);
* **learn the whole transform**: :func:`automap` (Zhu et al., Nature 2018), fully
  connected layers from the measurement to the image, whose size grows as the fourth
  power of the image side (:func:`automap_size`);
* **hybrid**: :func:`unrolled_mri`, a few alternating CNN and :class:`DataConsistency`
  blocks (Schlemper et al., IEEE TMI 2018), so the output agrees with the measured
  k-space.

Network k-space convention: the Keras layers take k-space as two channels (real,
imaginary) in NumPy's ``np.fft.fft2`` order (zero frequency at [0, 0], unnormalised),
so they need no shifts; :func:`mri_network_inputs` converts the centred, orthonormal
k-space of :mod:`i2i_keras.physics` into it.

Example
-------
>>> import numpy as np
>>> from i2i_keras import physics, recon
>>> ct = physics.ParallelBeamCT(32, n_angles=16)
>>> truth = np.zeros((32, 32)); truth[8:24, 8:24] = 0.02        # 1/mm
>>> sinogram = ct.A(truth)
>>> fbp = ct.fbp(sinogram)
>>> tv = recon.tv_reconstruction(ct, sinogram, weight=1e-4, n_iter=100)
>>> bool(np.abs(tv - truth).mean() < np.abs(fbp - truth).mean())
True
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from . import physics
from .models import unet

# -- the iterative baseline ---------------------------------------------------------------


def gradient(x: np.ndarray) -> np.ndarray:
    """Forward differences of images (..., H, W) -> (..., 2, H, W) (rows, columns).

    Zero at the last row/column (Neumann boundary). Its adjoint is ``-divergence``:

    >>> rng = np.random.default_rng(0)
    >>> x, g = rng.normal(size=(5, 6)), rng.normal(size=(2, 5, 6))
    >>> bool(np.isclose((gradient(x) * g).sum(), -(x * divergence(g)).sum()))
    True
    """
    g = np.zeros((*x.shape[:-2], 2, *x.shape[-2:]), dtype=x.dtype)
    g[..., 0, :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    g[..., 1, :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    return g


def divergence(g: np.ndarray) -> np.ndarray:
    """Minus the adjoint of :func:`gradient`: (..., 2, H, W) -> (..., H, W)."""
    rows, cols = g[..., 0, :, :], g[..., 1, :, :]
    d = np.zeros_like(rows)
    d[..., :-1, :] += rows[..., :-1, :]
    d[..., 1:, :] -= rows[..., :-1, :]
    d[..., :, :-1] += cols[..., :, :-1]
    d[..., :, 1:] -= cols[..., :, :-1]
    return d


def tv_reconstruction(op: physics.LinearOperator, y: np.ndarray, weight: float,
                      n_iter: int = 200, x0: np.ndarray | None = None,
                      nonnegative: bool | None = None, callback=None) -> np.ndarray:
    """Total-variation-regularised least squares by the Chambolle-Pock primal-dual method.

    Solves  min_x  1/2 ||A x - y||^2 / ||A||^2  +  weight * TV(x)  [x >= 0]
    where TV is the isotropic total variation (sum over pixels of the gradient's length).
    The data term is divided by ||A||^2 (estimated by power iteration), so ``weight``
    does not depend on the operator's units (tune it on validation data, e.g. over
    powers of ten around 1e-4 ... 1e-1 of the image's typical value).

    Args:
        op: the forward model (e.g. ``physics.ParallelBeamCT``, ``physics.CartesianMRI``).
        y: measurements (..., *op.measurement_shape); a batch is solved at once.
        weight: TV weight (see above); 0 gives (slowly) the least-squares solution.
        n_iter: iterations; each costs one ``A`` and one ``A_adjoint``.
        x0: start (..., *op.image_shape), e.g. the FBP or zero-filled image (fewer
            iterations needed); default zeros.
        nonnegative: constrain x >= 0 (default: for real operators, such as CT's
            attenuation; never for complex ones).
        callback: called as ``callback(iteration, x)`` after each iteration (1, 2, ...),
            e.g. to score several iteration counts in one run when tuning.

    Returns:
        (..., *op.image_shape) float64 (complex128 for complex operators).

    Cost: 64² CT, 32 views, 200 iterations: about 0.03 s a slice in a batch of 50 on a
    2-core CPU (tutorial 05 prints its own measurement).
    """
    complex_valued = op.complex_valued
    dtype = np.complex128 if complex_valued else np.float64
    y = np.asarray(y, dtype=dtype)
    if tuple(y.shape[y.ndim - len(op.measurement_shape):]) != tuple(op.measurement_shape):
        raise ValueError(f"measurements must have shape (..., {op.measurement_shape}) for "
                         f"{op!r}, got {y.shape}")
    if nonnegative is None:
        nonnegative = not complex_valued
    norm = op.norm_estimate(n_iter=30)
    y = y / norm  # A' = A / ||A||, so ||A'|| = 1 and ||grad / sqrt 8|| <= 1 too
    lead = y.shape[: y.ndim - len(op.measurement_shape)]
    x = (np.zeros((*lead, *op.image_shape), dtype) if x0 is None
         else np.array(np.broadcast_to(x0, (*lead, *op.image_shape)), dtype=dtype))
    x_bar = x.copy()
    p = np.zeros_like(y)                         # dual of the data term
    q = np.zeros((*lead, 2, *op.image_shape), dtype)  # dual of the TV term
    root8 = np.sqrt(8.0)
    step = 0.99 / np.sqrt(2.0)                   # sigma = tau, sigma tau ||K||^2 < 1
    bound = weight * root8                       # |q| <= weight sqrt 8 (TV of grad / sqrt 8)
    for iteration in range(1, n_iter + 1):
        p = (p + step * (op.A(x_bar) / norm - y)) / (1.0 + step)
        q = q + step * gradient(x_bar) / root8
        length = np.sqrt((np.abs(q) ** 2).sum(axis=-3, keepdims=True))
        q = q / np.maximum(1.0, length / max(bound, 1e-30))
        x_new = x - step * (op.A_adjoint(p) / norm - divergence(q) / root8)
        if nonnegative:
            x_new = np.maximum(x_new, 0.0)
        x_bar = 2.0 * x_new - x
        x = x_new
        if callback is not None:
            callback(iteration, x)
    return x


def sinogram_of_fine_object(fine_hu: np.ndarray, geometry: physics.ParallelBeamCT,
                            photons: float | None,
                            seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Noisy post-log sinogram of objects drawn on a grid twice as fine as ``geometry``'s.

    The object (..., 2N, 2N) in HU -> attenuation (1/mm) -> line integrals on the twice
    finer grid and detector (``geometry.finer(2)``) -> each detector bin the mean of its
    two fine bins -> Poisson photon counts (``photons`` blank-scan counts per bin and
    view; None: noise-free) -> -log. Reconstructing on the N grid then does not invert
    the same discrete model that made the data (no "inverse crime"). Line integrals are
    averaged, not transmitted intensities, so the exponential edge-gradient effect is
    left out. Compare with :func:`i2i_keras.physics.ct_transmission`, which up-samples a
    coarse image instead of taking a finer object.

    Returns:
        (..., n_angles, n_detectors) float32 line integrals (dimensionless).

    >>> g = physics.ParallelBeamCT(16, 8, pixel_size_mm=2.0)
    >>> sinogram_of_fine_object(np.zeros((32, 32)), g, photons=None).shape
    (8, 23)
    """
    fine_hu = np.asarray(fine_hu, dtype=np.float32)
    if fine_hu.shape[-2:] != (2 * geometry.image_size,) * 2:
        raise ValueError(f"the object must be (..., {2 * geometry.image_size}, "
                         f"{2 * geometry.image_size}), twice the reconstruction grid of "
                         f"{geometry!r}; got {fine_hu.shape}")
    mu = np.clip(physics.hu_to_mu(fine_hu), 0.0, None)
    fine = geometry.finer(2).A(mu)
    line = fine.reshape(*fine.shape[:-1], geometry.n_detectors, 2).mean(-1)
    if photons is None:
        return line.astype(np.float32)
    return physics.PoissonNoise(photons, seed).from_transmission(np.exp(-line)).astype(
        np.float32)


def quarter_turns(sinograms: np.ndarray, images: np.ndarray,
                  geometry: physics.ParallelBeamCT) -> tuple[np.ndarray, np.ndarray]:
    """Four times the training pairs, exactly: each object turned by 0, 90, 180, 270 degrees.

    Turning the object by 90 degrees (``np.rot90``) turns its parallel-beam sinogram over
    a 180-degree arc into the same views shifted by half the scan, the wrapped half
    read backwards along the detector; so a measured sinogram (noise and all) gives the
    measurement of the turned object without scanning again. Needs a full 180-degree
    arc from 0 degrees with an even number of views.

    Args:
        sinograms: (B, n_angles, n_detectors); images: (B, N, N), the matching objects.

    Returns:
        (4B, n_angles, n_detectors) sinograms and (4B, N, N) images, the turns in order.

    >>> ct = physics.ParallelBeamCT(16, 8)
    >>> x = np.random.default_rng(0).random((1, 16, 16))
    >>> s4, x4 = quarter_turns(ct.A(x), x, ct)
    >>> bool(np.allclose(s4[1:2], ct.A(x4[1:2]), atol=1e-5)), s4.shape
    (True, (4, 8, 23))
    """
    n = geometry.n_angles
    if geometry.angle_range_deg != 180.0 or geometry.start_angle_deg != 0.0 or n % 2:
        raise ValueError(f"quarter turns need a 180-degree scan from 0 degrees with an even "
                         f"number of views; got {geometry!r}")
    sinograms, images = np.asarray(sinograms), np.asarray(images)
    turned_s, turned_x = [sinograms], [images]
    for _ in range(3):
        s = turned_s[-1]
        turned_s.append(np.concatenate([s[:, n // 2:, ::-1], s[:, : n // 2]], axis=1))
        turned_x.append(np.rot90(turned_x[-1], 1, axes=(1, 2)))
    return np.concatenate(turned_s), np.concatenate(turned_x)


# -- AUTOMAP --------------------------------------------------------------------------------


def automap_size(measurement_size: int, image_side: int, hidden: int | None = None) -> dict:
    """Parameters and training memory of :func:`automap`'s fully connected layers.

    Two dense layers: measurement -> hidden -> N² (default hidden = N², as in the paper),
    so the parameters grow as N⁴: 64² -> ~29 M (with a 32-view sinogram), 256² -> ~4.3 G.
    ``train_gb`` counts float32 weights, their gradients and Adam's two moments (4x).

    >>> s = automap_size(32 * 91, 64)
    >>> s["parameters"] > 28e6, round(s["train_gb"], 2)
    (True, 0.46)
    """
    n2 = image_side * image_side
    hidden = n2 if hidden is None else int(hidden)
    params = measurement_size * hidden + hidden + hidden * n2 + n2
    return {"parameters": params, "weights_gb": 4 * params / 1e9,
            "train_gb": 16 * params / 1e9}


def automap(measurement_shape: tuple[int, ...], image_side: int, hidden: int | None = None,
            filters: int = 64, max_gb: float = 4.0, name: str = "automap") -> keras.Model:
    """AUTOMAP (Zhu et al. 2018): a learned domain transform, measurement -> image.

    Flatten the measurement (e.g. a sinogram (n_angles, n_detectors, 1), or k-space as
    (H, W, 2)), two fully connected tanh layers (to ``hidden`` then N² units), reshape to
    (N, N, 1), then the paper's convolutional refinement: two 5x5 ReLU convolutions of
    ``filters`` channels and a 7x7 transposed convolution to one channel (linear).

    Args:
        measurement_shape: one measurement's shape, without the batch axis.
        image_side: N, the output is (N, N, 1).
        hidden: width of the first dense layer (default N², the paper's).
        max_gb: refuse, before building anything, a network whose training memory
            (:func:`automap_size`) exceeds this.

    >>> net = automap((8, 13, 1), 16, filters=8)
    >>> net.output_shape
    (None, 16, 16, 1)
    """
    size = automap_size(int(np.prod(measurement_shape)), image_side, hidden)
    if size["train_gb"] > max_gb:
        raise MemoryError(
            f"AUTOMAP for {image_side}x{image_side} images from {int(np.prod(measurement_shape))}"
            f" measurements has {size['parameters'] / 1e6:,.0f} M parameters and needs about "
            f"{size['train_gb']:.1f} GB to train (limit max_gb={max_gb}): its dense layers "
            f"grow as N^4. Use a smaller image side (64 fits a laptop), a smaller `hidden`, or "
            f"raise max_gb if the machine has the memory")
    n2 = image_side * image_side
    inputs = keras.Input(measurement_shape, name="measurement")
    x = layers.Flatten(name="flatten")(inputs)
    x = layers.Dense(n2 if hidden is None else hidden, activation="tanh", name="fc1")(x)
    x = layers.Dense(n2, activation="tanh", name="fc2")(x)
    x = layers.Reshape((image_side, image_side, 1), name="to_image")(x)
    x = layers.Conv2D(filters, 5, padding="same", activation="relu", name="conv1")(x)
    x = layers.Conv2D(filters, 5, padding="same", activation="relu", name="conv2")(x)
    outputs = layers.Conv2DTranspose(1, 7, padding="same", dtype="float32", name="image")(x)
    return keras.Model(inputs, outputs, name=name)


# -- MRI: data consistency and the unrolled network --------------------------------------


def _complex_fft2(image):
    """(B, H, W, 2) real/imag channels -> k-space (B, H, W, 2), NumPy order, unnormalised."""
    re, im = ops.fft2((image[..., 0], image[..., 1]))
    return ops.stack([re, im], axis=-1)


def _complex_ifft2(kspace):
    re, im = ops.ifft2((kspace[..., 0], kspace[..., 1]))
    return ops.stack([re, im], axis=-1)


@keras.saving.register_keras_serializable(package="i2i_keras")
class DataConsistency(layers.Layer):
    """Put the measured k-space back into a network's image (the physics step of a hybrid).

    Inputs ``[image, kspace, mask]``: image (B, H, W, 2) real/imaginary channels, measured
    k-space (B, H, W, 2) in NumPy FFT order (see :func:`mri_network_inputs`), mask
    (B, H, W, 1), 1 where measured. Where measured, the image's k-space becomes
    k_meas (hard, for noise-free data) or (k_pred + w k_meas) / (1 + w) with a learned
    w = exp(log_weight) > 0 (``learned_weight=True``, for noisy data: Schlemper et al.
    2018); elsewhere it is kept. Same as :func:`i2i_keras.physics.data_consistency`.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(1, 8, 8, 2)).astype("float32")
    >>> k = np.zeros((1, 8, 8, 2), "float32"); m = np.ones((1, 8, 8, 1), "float32")
    >>> out = DataConsistency()([x, k, m])            # everything measured: k-space = 0
    >>> float(np.abs(keras.ops.convert_to_numpy(out)).max()) < 1e-6
    True
    """

    def __init__(self, learned_weight: bool = False, initial_log_weight: float = 2.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.learned_weight = bool(learned_weight)
        self.initial_log_weight = float(initial_log_weight)

    def build(self, input_shape):
        image, kspace, mask = (tuple(shape) for shape in input_shape)
        if image[1:3] != kspace[1:3] or image[1:3] != mask[1:3] or image[-1] != 2 \
                or kspace[-1] != 2 or mask[-1] != 1:
            raise ValueError(f"DataConsistency needs image (B, H, W, 2), k-space (B, H, W, 2) "
                             f"and mask (B, H, W, 1) on one grid; got {image}, {kspace}, "
                             f"{mask} (recon.mri_network_inputs makes all three)")
        if self.learned_weight:
            self.log_weight = self.add_weight(
                name="log_weight", shape=(),
                initializer=keras.initializers.Constant(self.initial_log_weight))

    def call(self, inputs):
        image, measured, mask = inputs
        predicted = _complex_fft2(ops.cast(image, "float32"))
        measured = ops.cast(measured, "float32")
        mask = ops.cast(mask, "float32")
        if self.learned_weight:
            w = ops.exp(self.log_weight)
            measured = (predicted + w * measured) / (1.0 + w)
        return _complex_ifft2(mask * measured + (1.0 - mask) * predicted)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return super().get_config() | {"learned_weight": self.learned_weight,
                                       "initial_log_weight": self.initial_log_weight}


def unrolled_mri(image_side: int, iterations: int = 4, base_filters: int = 16, depth: int = 2,
                 learned_weight: bool = False, shared: bool = False,
                 initial_log_weight: float = 2.0, name: str = "unrolled_mri") -> keras.Model:
    """An unrolled hybrid: ``iterations`` times (x <- x + CNN(x); x <- DC(x, k, mask)).

    Inputs ``[zero_filled, kspace, mask]`` as made by :func:`mri_network_inputs`
    ((B, N, N, 2), (B, N, N, 2), (B, N, N, 1)); output (B, N, N, 2), the image's real and
    imaginary channels (take the magnitude to display). Each CNN is a residual
    :func:`~i2i_keras.models.unet` of ``depth`` levels; ``shared=True`` uses one for
    every iteration (fewer parameters, the same compute). ``learned_weight`` makes the
    data consistency soft, starting at w = exp(initial_log_weight) (higher: trust the
    data more, for less noisy k-space).

    >>> net = unrolled_mri(16, iterations=2, base_filters=4)
    >>> [tuple(i.shape) for i in net.inputs], net.output_shape
    ([(None, 16, 16, 2), (None, 16, 16, 2), (None, 16, 16, 1)], (None, 16, 16, 2))
    """
    zero_filled = keras.Input((image_side, image_side, 2), name="zero_filled")
    kspace = keras.Input((image_side, image_side, 2), name="kspace")
    mask = keras.Input((image_side, image_side, 1), name="mask")

    def cnn(i):
        return unet((image_side, image_side, 2), out_channels=2, depth=depth,
                    base_filters=base_filters, norm="none", residual=True,
                    name=f"{name}_cnn{i}")

    shared_cnn = cnn(0) if shared else None
    x = zero_filled
    for i in range(iterations):
        x = (shared_cnn or cnn(i))(x)
        # float32 whatever the policy: k-space sums a whole image, bfloat16 would round it
        x = DataConsistency(learned_weight, initial_log_weight, name=f"dc{i}",
                            dtype="float32")([x, kspace, mask])
    return keras.Model([zero_filled, kspace, mask], x, name=name)


def mri_network_inputs(images: np.ndarray, mask: np.ndarray, noise_sigma: float = 0.0,
                       seed: int | np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Simulate an accelerated acquisition and lay it out for the networks.

    Args:
        images: (B, N, N) real truth images.
        mask: (N, N) bool, the measured k-space (e.g. ``physics.cartesian_mask``).
        noise_sigma: SD of the Gaussian noise in each of the real and imaginary parts of
            a k-space sample (orthonormal FFT, so image units), added where measured.

    Returns:
        dict of float32 arrays: ``zero_filled`` (B, N, N, 2) real/imaginary of the
        zero-filled reconstruction, ``kspace`` (B, N, N, 2) measured k-space in NumPy FFT
        order (for :class:`DataConsistency`), ``mask`` (B, N, N, 1), ``magnitude`` (B, N, N)
        of the zero-filled image, and ``measured`` (B, N, N) complex64: the centred
        orthonormal k-space of :mod:`~i2i_keras.physics` (for :func:`dc_error`).

    >>> d = mri_network_inputs(np.ones((2, 8, 8)), physics.cartesian_mask((8, 8), 2, seed=0))
    >>> d["zero_filled"].shape, d["kspace"].shape, d["mask"].shape
    ((2, 8, 8, 2), (2, 8, 8, 2), (2, 8, 8, 1))
    """
    images = np.asarray(images)
    mask = np.asarray(mask, dtype=bool)
    if images.ndim != 3 or mask.shape != images.shape[1:] or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be (B, N, N) and mask (N, N) of the same N; got images "
                         f"{images.shape}, mask {mask.shape}")
    if images.shape[-1] % 2:
        raise ValueError(f"the image side must be even (got {images.shape[-1]}): pad by one")
    mri = physics.CartesianMRI(images.shape[1:], mask)
    measured = mri.A(images)
    if noise_sigma:  # the receiver's noise, on the measured samples only
        measured = physics.GaussianNoise(noise_sigma, seed)(measured) * mask
    measured = measured.astype(np.complex64)
    zero_filled = mri.A_dagger(measured)
    side = images.shape[-1]
    # Centred orthonormal -> NumPy order: undo the k-space shift, scale by N, and undo the
    # image-domain shift (for even N a checkerboard of signs in k-space).
    signs = (-1.0) ** np.add.outer(np.arange(side), np.arange(side))
    k_numpy = np.fft.ifftshift(measured, axes=(-2, -1)) * side * signs

    def channels(z):
        return np.stack([z.real, z.imag], axis=-1).astype(np.float32)

    return {"zero_filled": channels(zero_filled), "kspace": channels(k_numpy),
            "mask": np.broadcast_to(np.fft.ifftshift(mask)[None, ..., None],
                                    (len(images), side, side, 1)).astype(np.float32),
            "magnitude": np.abs(zero_filled).astype(np.float32), "measured": measured}


def dc_error(images: np.ndarray, measured: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Relative data-consistency error ||M(F x) - y|| / ||y|| of each image.

    images (B, N, N) real or complex; measured (B, N, N) centred orthonormal k-space as
    returned in ``mri_network_inputs(...)["measured"]``; mask (N, N). Returns (B,).

    >>> d = mri_network_inputs(np.ones((1, 8, 8)), np.ones((8, 8), bool))
    >>> float(dc_error(np.ones((1, 8, 8)), d["measured"], np.ones((8, 8), bool))[0]) < 1e-6
    True
    """
    mri = physics.CartesianMRI(np.shape(images)[1:], mask)
    residual = mri.A(np.asarray(images)) - np.asarray(measured) * mask
    axes = (-2, -1)
    return (np.sqrt((np.abs(residual) ** 2).sum(axes))
            / np.sqrt((np.abs(measured * mask) ** 2).sum(axes)))
