"""Real scans that ship inside pydicom, at the pixel size a phantom-trained network knows.

No data set can be downloaded in a classroom, but pydicom's own test files hold a few real
slices. :func:`real_slice` reads one (the middle frame of a multi-frame file) in its
physical units and resamples it towards the phantoms' pixel size, so a network trained on
phantoms sees anatomy at the scale it learned. Used by tutorials 01 and 02 (a real scan
at the end) and ``benchmarks/transfer.py``.
"""

from __future__ import annotations

import warnings

import numpy as np

from .dicom_read import read_dicom

PHANTOM_PIXEL_MM = 220.0 / 128  # the tutorials' phantoms: a 220 mm field on 128 pixels
CT_EXAMPLES = ("693_UNCR.dcm", "explicit_VR-UN.dcm", "CT_small.dcm", "eCT_Supplemental.dcm")
MR_EXAMPLES = ("emri_small.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", "MR2_UNCI.dcm",
               "MR_small.dcm")
DESCRIPTIONS = {  # what each file shows (read off the images; pydicom names no anatomy)
    "693_UNCR.dcm": "head CT", "explicit_VR-UN.dcm": "abdomen CT",
    "CT_small.dcm": "neck CT", "eCT_Supplemental.dcm": "brain CT close-up, CSF masked",
    "emri_small.dcm": "brain MR close-up", "MR-SIEMENS-DICOM-WithOverlays.dcm": "abdomen MR",
    "MR2_UNCI.dcm": "shoulder MR", "MR_small.dcm": "MR, 20 mm field",
}


def real_slice(name: str, pixel_mm: float = PHANTOM_PIXEL_MM,
               smallest: int = 64) -> tuple[np.ndarray, float]:
    """A real slice from pydicom's test files, resampled towards ``pixel_mm``.

    The middle frame of a multi-frame file, in its units (HU for CT, scanner units for
    MR); resampled with anti-aliasing (scikit-image) to ``pixel_mm`` unless that would
    leave fewer than ``smallest`` pixels a side (then to that side), never upsampled;
    centre-cropped to a multiple of 8 pixels (a 3-level U-Net's input). Resampling
    averages pixels, so it also lowers the scan's own noise.

    name: a file in pydicom's test data (see :data:`CT_EXAMPLES`, :data:`MR_EXAMPLES`).
    Returns (image (H, W) float32, its pixel size in mm).

    >>> image, pixel = real_slice("CT_small.dcm")  # 128² at 0.66 mm: 64² at 1.32 mm
    >>> image.shape, round(pixel, 2), bool(image.min() < -800)  # air in HU
    ((64, 64), 1.32, True)
    """
    from pydicom.data import get_testdata_file
    from skimage.transform import resize

    with warnings.catch_warnings():  # the test files carry odd but harmless headers
        warnings.simplefilter("ignore")
        image = read_dicom(get_testdata_file(name))
    array = image.array[len(image.array) // 2] if image.array.ndim == 3 else image.array
    pixel = float(image.spacing_mm[-1])
    target = max(pixel, min(pixel_mm, pixel * min(array.shape) / smallest))
    shape = tuple(int(round(s * pixel / target)) for s in array.shape)
    if shape != array.shape:
        array = resize(array, shape, order=3, anti_aliasing=True, preserve_range=True)
    h, w = (s // 8 * 8 for s in array.shape)
    top, left = (array.shape[0] - h) // 2, (array.shape[1] - w) // 2
    return array[top:top + h, left:left + w].astype(np.float32), target
