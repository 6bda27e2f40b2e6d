"""Noise models, kept apart from the operators: a measurement is ``noise(op.A(x))``.

Each model is a small object holding its parameters and a random generator; every call
draws fresh noise from that generator, so ``PoissonNoise(1e4, seed=0)`` gives the same
sequence of noisy measurements in every run. Pass one ``np.random.Generator`` to several
models to let them share a stream.

* :class:`PoissonNoise`: CT photon counting, on line integrals (post-log data).
* :class:`PoissonCountNoise`: counting on a mean image (PET, any emission data).
* :class:`GaussianNoise`: additive white noise (real, or per channel for complex data).
* :class:`RicianNoise`: the magnitude of complex Gaussian noise (MR magnitude images).
"""

from __future__ import annotations

import numpy as np

from .base import _rng

# LoDoPaB-CT's floor for zero photon counts before the log (Leuschner et al., 2021).
MIN_PHOTON_COUNT = 0.1


class PoissonNoise:
    """CT quantum noise: line integrals p -> -log(max(N, 0.1) / photons), N ~ Poisson.

    A detector bin behind a ray with line integral p (dimensionless, the output of
    ``ParallelBeamCT.A``) expects ``photons * exp(-p)`` photons; the measured count N
    is Poisson distributed, and the scanner's post-log data is -log(N / photons). Zero
    counts are floored at 0.1 (LoDoPaB-CT's convention) so the log stays finite. The
    variance of p is about exp(p) / photons: dose is proportional to ``photons``.
    (deepinv calls this model ``LogPoissonNoise``.)

    Args:
        photons: blank-scan count per detector bin and view (> 0).
        seed: random seed or generator.

    Example:
        >>> noise = PoissonNoise(photons=1e4, seed=0)
        >>> line = np.full((90, 65), 2.0)          # (n_angles, n_det), e.g. ct.A(mu)
        >>> noisy = noise(line)
        >>> noisy.shape, bool(abs(noisy.mean() - 2.0) < 0.01)
        ((90, 65), True)
    """

    def __init__(self, photons: float, seed: int | np.random.Generator | None = None) -> None:
        if photons <= 0:
            raise ValueError(f"photons must be positive, got {photons}")
        self.photons = photons
        self.rng = _rng(seed)

    def __call__(self, line_integral: np.ndarray) -> np.ndarray:
        """Noisy line integrals, same shape; float32 unless the input is float64."""
        return self.from_transmission(np.exp(-np.asarray(line_integral)))

    def from_transmission(self, transmission: np.ndarray) -> np.ndarray:
        """The same from the expected transmission exp(-p) in (0, 1] (..., n_angles, n_det).

        Used when the detector averages exp(-p) over sub-bins (see ``ct_transmission``).
        """
        transmission = np.asarray(transmission)
        counts = self.rng.poisson(self.photons * transmission)
        line = -np.log(np.maximum(counts, MIN_PHOTON_COUNT) / self.photons)
        return line.astype(np.result_type(transmission.dtype, np.float32))

    def __repr__(self) -> str:
        return f"PoissonNoise(photons={self.photons})"


class PoissonCountNoise:
    """Counting noise on a mean image: x -> Poisson(counts_per_unit * x) / counts_per_unit.

    The mean is unchanged and the variance is x / counts_per_unit, so the relative noise
    falls as 1 / sqrt(expected counts). Used for low-count PET (see ``low_count_pet``).

    Args:
        counts_per_unit: expected counts per unit of the image (> 0), a number or an
            array broadcasting against the image (e.g. one scale per image of a batch).
        seed: random seed or generator.

    Example:
        >>> noisy = PoissonCountNoise(100.0, seed=0)(np.full((32, 32), 5.0))
        >>> bool(abs(noisy.mean() - 5.0) < 0.05), noisy.dtype
        (True, dtype('float64'))
    """

    def __init__(self, counts_per_unit: float | np.ndarray,
                 seed: int | np.random.Generator | None = None) -> None:
        if np.any(np.asarray(counts_per_unit) <= 0):
            raise ValueError(f"counts_per_unit must be positive, got {counts_per_unit}")
        self.counts_per_unit = counts_per_unit
        self.rng = _rng(seed)

    def __call__(self, mean: np.ndarray) -> np.ndarray:
        """Noisy image (float64), same shape as ``mean`` (>= 0)."""
        return self.rng.poisson(np.asarray(mean) * self.counts_per_unit) / self.counts_per_unit


class GaussianNoise:
    """Additive white Gaussian noise of standard deviation ``sigma`` (image units).

    Complex data (k-space) gets independent noise of ``sigma`` in the real and the
    imaginary part, which is what an MR receiver adds. The output keeps the input's
    precision (float32 stays float32, complex64 stays complex64).

    Example:
        >>> noisy = GaussianNoise(sigma=0.1, seed=0)(np.zeros((64, 64), np.float32))
        >>> noisy.dtype, bool(abs(noisy.std() - 0.1) < 0.005)
        (dtype('float32'), True)
    """

    def __init__(self, sigma: float, seed: int | np.random.Generator | None = None) -> None:
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        self.sigma = sigma
        self.rng = _rng(seed)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """y + sigma n, n ~ N(0, 1) (complex: n1 + i n2), same shape and precision."""
        y = np.asarray(y)
        noise = self.rng.standard_normal(y.shape)
        if np.iscomplexobj(y):
            noise = noise + 1j * self.rng.standard_normal(y.shape)
        return (y + self.sigma * noise).astype(np.result_type(y.dtype, np.float32))


class RicianNoise(GaussianNoise):
    """MR magnitude noise: |x + sigma (n1 + i n2)|, n1, n2 ~ N(0, 1) independent.

    Thermal noise is Gaussian in each of the real and imaginary channels; taking the
    magnitude makes it Rician, biased upwards where the signal is low (mean
    sigma sqrt(pi/2) ~ 1.25 sigma in air instead of 0).

    Args:
        sigma: noise standard deviation per channel, in image units.
        seed: random seed or generator.

    Example:
        >>> noisy = RicianNoise(sigma=1.0, seed=0)(np.zeros((64, 64)))
        >>> noisy.dtype, bool(1.1 < noisy.mean() < 1.4)
        (dtype('float32'), True)
    """

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Noisy magnitude (float32), same shape; ``image`` real (magnitude) or complex."""
        # Complex Gaussian noise on the complex image (real then imaginary draws), then |.|.
        return np.abs(super().__call__(np.asarray(image, np.complex128))).astype(np.float32)
