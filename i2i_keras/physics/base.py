"""The shape every forward model shares: a linear operator A with its adjoint.

A scanner is modelled as ``y = noise(A(x))``: a linear operator ``A`` (projection for CT,
masked Fourier transform for MRI, blur for PET) followed by a noise model (see
:mod:`~i2i_keras.physics.noise`). Everything a reconstruction method needs from ``A``
lives on :class:`LinearOperator`:

* ``A(x)``: image (..., *image_shape) -> measurement (..., *measurement_shape);
* ``A_adjoint(y)``: the exact transpose (conjugate transpose for complex data), the
  gradient of 1/2 ||A x - y||^2 is ``A_adjoint(A(x) - y)``;
* ``A_dagger(y)``: a pseudo-inverse, the classical one-shot reconstruction (FBP for CT,
  zero-filled inverse FFT for MRI; by default regularised least squares);
* ``adjointness_test()`` and ``norm_estimate()``: the two checks to run before using an
  operator in an iterative method (a wrong adjoint or a step size above 1/||A||^2 makes
  gradient descent diverge).

The design follows deepinv's ``LinearPhysics`` (Tachella et al., 2023), in NumPy.
"""

from __future__ import annotations

import numpy as np

from ..io import I2IDataError


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A generator from a seed; a generator passed in is used (and advanced) as it is."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _float(array, name: str) -> np.ndarray:
    """Float32 view of an image (float64 and complex kept), refusing non-finite values."""
    array = np.asarray(array)
    if array.dtype == np.float64:
        out = array
    else:
        out = np.asarray(array, dtype=np.float32) if not np.iscomplexobj(array) else array
    if not np.all(np.isfinite(out)):
        raise I2IDataError(f"{name} contains NaN or Inf values; replace them first "
                           "(e.g. np.nan_to_num) - the forward models need finite images")
    return out


class LinearOperator:
    """Base class of the forward models: ``A``, ``A_adjoint``, ``A_dagger`` and two checks.

    Subclasses set ``image_shape`` and ``measurement_shape`` (the trailing axes of an
    image and of a measurement; any leading batch axes pass through) and implement
    ``A`` and ``A_adjoint``. ``complex_valued = True`` declares that images and
    measurements are complex (MRI); the checks then draw complex test vectors.

    Example (a 2x2 matrix as an operator; the checks work for any subclass):

    >>> class Scale(LinearOperator):
    ...     image_shape = measurement_shape = (2,)
    ...     def A(self, x):
    ...         return x * np.array([3.0, 1.0])
    ...     def A_adjoint(self, y):
    ...         return y * np.array([3.0, 1.0])
    >>> op = Scale()
    >>> op.adjointness_test() < 1e-12, round(op.norm_estimate(), 6)
    (True, 3.0)
    >>> np.round(op.A_dagger(np.array([3.0, 1.0]), reg=0.0), 6)
    array([1., 1.])
    """

    image_shape: tuple[int, ...]
    measurement_shape: tuple[int, ...]
    complex_valued: bool = False

    def A(self, x: np.ndarray) -> np.ndarray:
        """Forward model: image (..., *image_shape) -> measurement (..., *measurement_shape)."""
        raise NotImplementedError

    def A_adjoint(self, y: np.ndarray) -> np.ndarray:
        """Adjoint: measurement (..., *measurement_shape) -> image (..., *image_shape)."""
        raise NotImplementedError

    def A_dagger(self, y: np.ndarray, reg: float = 1e-2, n_iter: int = 100,
                 tol: float = 1e-8) -> np.ndarray:
        """Pseudo-inverse: argmin_x ||A x - y||^2 + reg ||x||^2, by conjugate gradients.

        The default for operators without a closed-form inverse (subclasses with one,
        such as FBP for CT, override it). ``reg`` (Tikhonov weight, in units of the
        operator's squared gain; 0 for the least-squares solution) keeps the problem
        well posed where A loses information; CG solves
        (A^T A + reg I) x = A^T y to relative residual ``tol`` or ``n_iter`` steps.

        Args:
            y: measurement (..., *measurement_shape); a batch is solved as one system.

        Returns:
            (..., *image_shape), float64 (complex128 for complex operators).
        """
        b = self.A_adjoint(np.asarray(y, dtype=np.complex128 if self.complex_valued
                                      else np.float64))
        x = np.zeros_like(b)
        residual = b.copy()
        direction = residual.copy()
        rr = np.vdot(residual, residual).real
        stop = tol**2 * rr
        for _ in range(n_iter):
            if rr <= stop:
                break
            q = self.A_adjoint(self.A(direction)) + reg * direction
            step = rr / np.vdot(direction, q).real
            x += step * direction
            residual -= step * q
            rr, rr_old = np.vdot(residual, residual).real, rr
            direction = residual + (rr / rr_old) * direction
        return x

    # -- checks ----------------------------------------------------------------------
    def _random(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        x = rng.standard_normal(shape)
        return x + 1j * rng.standard_normal(shape) if self.complex_valued else x

    def adjointness_test(self, seed: int | None = 0) -> float:
        """Relative error |<A x, y> - <x, A^T y>| / |<A x, y>| for random x, y (float64).

        Round-off level (~1e-12 or below) for a correct adjoint; a wrong one (a missing
        weight, a flipped axis, a factor of 2) gives ~1e-2 or more.
        """
        rng = np.random.default_rng(seed)
        x = self._random(tuple(self.image_shape), rng)
        y = self._random(tuple(self.measurement_shape), rng)
        lhs = np.vdot(y, self.A(x))          # <A x, y>
        rhs = np.vdot(self.A_adjoint(y), x)  # <x, A^T y>
        return float(abs(lhs - rhs) / (abs(lhs) + 1e-300))

    def norm_estimate(self, n_iter: int = 50, seed: int | None = 0) -> float:
        """Operator 2-norm ||A|| (largest singular value), by power iteration on A^T A.

        Gradient descent on 1/2 ||A x - y||^2 converges for step sizes below
        2 / ||A||^2. Each iteration costs one ``A`` and one ``A_adjoint``; the estimate
        approaches ||A|| from below.
        """
        rng = np.random.default_rng(seed)
        x = self._random(tuple(self.image_shape), rng)
        x /= np.linalg.norm(x)
        for _ in range(n_iter):
            x = self.A_adjoint(self.A(x)).astype(x.dtype, copy=False)
            x /= np.linalg.norm(x)
        return float(np.linalg.norm(self.A(x)))

    def as_matrix(self) -> np.ndarray:
        """A as a dense matrix (prod(measurement_shape), prod(image_shape)), small sizes only.

        Column j is A applied to the j-th unit image; useful to look at a small operator
        or to compare with ``numpy.linalg.svd``.
        """
        n = int(np.prod(self.image_shape))
        basis = np.eye(n).reshape(n, *self.image_shape)
        return np.asarray(self.A(basis)).reshape(n, -1).T
