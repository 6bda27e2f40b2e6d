"""Forward models: how a scanner turns an anatomy into the degraded image a network undoes.

NumPy/SciPy only (no deep-learning backend), so the same code makes training pairs, runs
classical baselines and serves as the physics half of hybrid methods.

One shape for every modality: a measurement is ``noise(op.A(x))``, a linear operator
followed by a noise model.

* Operators (:class:`LinearOperator`: ``A``, ``A_adjoint``, ``A_dagger``,
  ``adjointness_test``, ``norm_estimate``; file ``base.py``):
  :class:`ParallelBeamCT` (projection; ``A_dagger`` = FBP; sparse-view and limited-angle
  by construction; ``ct.py``), :class:`CartesianMRI` (masked centred FFT; ``A_dagger`` =
  zero-filled reconstruction; ``mri.py``), :class:`PETBlur` (scanner PSF; ``pet.py``).
* Noise models (``noise.py``): :class:`PoissonNoise` (CT photon counting, post-log),
  :class:`PoissonCountNoise` (PET counts), :class:`GaussianNoise`, :class:`RicianNoise`.
* Ready-made degradations, each a short composition of the two:
  CT (``ct_dose.py``): :func:`low_dose_ct` (HU -> attenuation -> Poisson photon counts
  -> log -> FBP -> HU), :func:`simulate_doses`, :func:`ct_transmission`,
  :func:`hu_to_mu` / :func:`mu_to_hu`;
  MRI: :func:`kspace_truncate` (low resolution the way a scanner makes it) and
  :func:`lowres_kspace` (what that low-resolution matrix measured, on the fine grid),
  :func:`cartesian_mask` / :func:`undersample` (accelerated acquisition, zero-filled
  reconstruction), :func:`rician_noise`, :func:`data_consistency` (re-impose the
  measured k-space on a network's output), :func:`fft2c` / :func:`ifft2c`;
  PET: :func:`low_count_pet`; generic (``resample.py``): :func:`downsample`.

Array conventions: images are ``(..., H, W)`` with any leading batch axes; CT sinograms
are ``(..., n_angles, n_detectors)``. Lengths are in mm, attenuation in 1/mm, CT numbers
in HU.

Example
-------
>>> import numpy as np
>>> from i2i_keras import physics
>>> ct = physics.ParallelBeamCT(32, n_angles=60)
>>> sino = ct.A(np.ones((32, 32), np.float32) * 0.02)     # water, mu in 1/mm
>>> sino.shape
(60, 45)
>>> noisy = physics.PoissonNoise(photons=1e4, seed=0)(sino)  # post-log line integrals
>>> recon_mu = ct.A_dagger(noisy)                          # FBP, 1/mm
>>> noisy_hu = physics.low_dose_ct(np.zeros((32, 32), np.float32), photons=1e4,
...                                n_angles=60, seed=0)     # the same, in one call
"""

from .base import LinearOperator
from .ct import FBP_FILTERS, ParallelBeamCT
from .ct_dose import (
    LODOPAB_PHOTONS,
    MU_WATER_PER_MM,
    ct_transmission,
    hu_to_mu,
    low_dose_ct,
    mu_to_hu,
    simulate_doses,
)
from .mri import (
    CartesianMRI,
    UndersampledMRI,
    cartesian_mask,
    central_kspace_mask,
    data_consistency,
    fft2c,
    ifft2c,
    kspace_truncate,
    lowres_kspace,
    rician_noise,
    undersample,
)
from .noise import MIN_PHOTON_COUNT, GaussianNoise, PoissonCountNoise, PoissonNoise, RicianNoise
from .pet import PETBlur, low_count_pet
from .resample import downsample

__all__ = [
    "FBP_FILTERS", "LODOPAB_PHOTONS", "MIN_PHOTON_COUNT", "MU_WATER_PER_MM",
    "CartesianMRI", "GaussianNoise", "LinearOperator", "PETBlur", "ParallelBeamCT",
    "PoissonCountNoise", "PoissonNoise", "RicianNoise", "UndersampledMRI",
    "cartesian_mask", "central_kspace_mask", "ct_transmission", "data_consistency",
    "downsample", "fft2c", "hu_to_mu", "ifft2c", "kspace_truncate", "low_count_pet",
    "low_dose_ct", "lowres_kspace", "mu_to_hu", "rician_noise", "simulate_doses", "undersample",
]
