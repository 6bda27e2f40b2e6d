"""Bad series that issue 21 names (a missing slice, uneven spacing, mixed orientations):
read_dicom_series refuses each with the files and the fix, on a series written by
write_dicom_series from a phantom volume (the case a student meets in tutorial 08)."""

import numpy as np
import pydicom
import pytest

from i2i_keras import io, volumes
from i2i_keras.io import I2IDataError


@pytest.fixture
def series(tmp_path):
    head = volumes.head_volume(32, 6, seed=0, slice_mm=3.0)
    vol = volumes.Volume(head.hu, head.affine)
    g = vol.dicom_geometry()
    return io.write_dicom_series(g["array"], tmp_path / "ct", spacing_mm=g["spacing_mm"],
                                 origin_mm=g["origin_mm"], orientation=g["orientation"])


def _edit(path, **values):
    ds = pydicom.dcmread(path)
    for key, value in values.items():
        setattr(ds, key, value)
    ds.save_as(path)


def test_the_written_series_reads_back(series):
    assert io.read_dicom_series(series[0].parent).array.shape == (6, 32, 32)


def test_a_missing_slice_is_named(series):
    series[3].unlink()
    with pytest.raises(I2IDataError, match=r"non-uniform slice spacing .* median 3 mm but "
                                           r"6 mm between IM0003\.dcm and IM0005\.dcm\. A "
                                           r"slice may be missing"):
        io.read_dicom_series(series[0].parent)


def test_uneven_spacing_is_named(series):
    ds = pydicom.dcmread(series[4])
    position = [float(v) for v in ds.ImagePositionPatient]
    _edit(series[4], ImagePositionPatient=[f"{v:.6g}" for v in
                                           np.add(position, (0, 0, 1.2))])
    with pytest.raises(I2IDataError, match=r"non-uniform slice spacing .*IM0004\.dcm and "
                                           r"IM0005\.dcm.*resample the series"):
        io.read_dicom_series(series[0].parent)


def test_mixed_orientations_are_named(series):
    # A sagittal localizer's orientation in one file of the series.
    _edit(series[2], ImageOrientationPatient=["0", "1", "0", "0", "0", "-1"])
    with pytest.raises(I2IDataError, match=r"differ in ImageOrientationPatient: IM0003\.dcm "
                                           r".*a localizer or a second stack is mixed in"):
        io.read_dicom_series(series[0].parent)
