"""Medical image I/O: DICOM and NIfTI in and out, input checks, window/level presets.

What is where (each module reads in one sitting):

========================  ==============================================================
``io/errors.py``          :class:`I2IDataError`, raised on every bad input with the file
                          and the fix in its message; :func:`require_float` (integer
                          arrays where HU floats belong), :func:`check_pair` (a training
                          pair on different grids)
``io/windows.py``         window/level presets in HU: :data:`WINDOWS`,
                          :func:`window_limits`, :func:`apply_window`
``io/dicom_read.py``      :func:`read_dicom` (one file) and :func:`read_dicom_series` (a
                          folder, slices sorted by position along the slice normal)
                          return a :class:`DicomImage` in physical units (HU for CT:
                          RescaleSlope and RescaleIntercept applied) with spacing,
                          orientation and an ``affine``
``io/dicom_write.py``     :func:`write_dicom_series`: a valid CT or MR series with new
                          UIDs, signed 16-bit pixels with matching rescale tags,
                          de-identified by default (DICOM PS3.15 basic profile: the
                          header is built from scratch from a short whitelist of
                          technical attributes, so none of
                          :data:`BASIC_PROFILE_ATTRIBUTES` survives)
``io/nifti.py``           :func:`read_nifti` / :func:`write_nifti`, affine (voxel ->
                          RAS+ mm) kept, in a :class:`NiftiImage`
``io/real_examples.py``   :func:`real_slice`: a real CT or MR slice from pydicom's test
                          files at the phantoms' pixel size (:data:`CT_EXAMPLES`,
                          :data:`MR_EXAMPLES`)
========================  ==============================================================

Everything public is importable from ``i2i_keras.io`` itself; import from there.

Example
-------
>>> from pydicom.data import get_testdata_file
>>> from i2i_keras import io
>>> ct = io.read_dicom(get_testdata_file("CT_small.dcm"))
>>> ct.array.shape, ct.units, ct.spacing_mm
((128, 128), 'HU', (0.661468, 0.661468))
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     files = io.write_dicom_series(ct.array, tmp, reference=ct)   # de-identified
...     nifti = io.read_nifti(io.write_nifti(f"{tmp}/ct.nii.gz", ct.array, ct.affine))
>>> [f.name for f in files], [round(v, 4) for v in nifti.spacing_mm]
(['IM0001.dcm'], [0.6615, 0.6615])
"""

from .dicom_read import DicomImage, read_dicom, read_dicom_series
from .dicom_write import BASIC_PROFILE_ATTRIBUTES, write_dicom_series
from .errors import I2IDataError, PathLike, check_pair, require_float
from .nifti import NiftiImage, read_nifti, write_nifti
from .real_examples import CT_EXAMPLES, MR_EXAMPLES, PHANTOM_PIXEL_MM, real_slice
from .windows import WINDOWS, apply_window, window_limits

__all__ = [
    "BASIC_PROFILE_ATTRIBUTES", "CT_EXAMPLES", "MR_EXAMPLES", "PHANTOM_PIXEL_MM", "WINDOWS",
    "DicomImage", "I2IDataError", "NiftiImage", "PathLike", "apply_window", "check_pair",
    "read_dicom", "read_dicom_series", "read_nifti", "real_slice", "require_float",
    "window_limits", "write_dicom_series", "write_nifti",
]
