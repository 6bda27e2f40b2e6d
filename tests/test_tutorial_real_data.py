"""The tutorials' real-data switch, run on small fake copies of the data sets' layouts.

No machine here reaches the internet, so the real-data branch of a notebook runs on a
fake data set written in the real layout (the loaders' tests make the same fakes).
"""

import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from test_loaders import write_fake_lodopab

from i2i_keras import io

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
LODOPAB_SHAPES = dict(image=362, views=1000, bins=513)  # the real data set's arrays


def run_notebook(name: str, env: dict, tmp_path: Path) -> str:
    nb = nbformat.read(TUTORIALS / name, as_version=4)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "stream")


def test_super_resolution_tutorial_runs_on_ixi_layout(tmp_path):
    folder = tmp_path / "data" / "ixi"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    head = ((yy - 32) ** 2 + (xx - 32) ** 2 < 26 ** 2).astype(np.float32)
    for i in range(8):  # 8 subjects: enough for a train/val/test split by subject
        for weighting in ("T1", "T2"):
            volume = head[:, :, None] * rng.uniform(200, 800, (64, 64, 6)).astype(np.float32)
            io.write_nifti(folder / f"IXI{i:03d}-Guys-0001-{weighting}.nii.gz", volume,
                           spacing_mm=(0.94, 0.94, 1.2))
    out = run_notebook("02_mri_super_resolution.ipynb",
                       {"I2I_QUICK": "1", "I2I_DATASET": "ixi",
                        "I2I_DATA_DIR": str(tmp_path / "data")}, tmp_path)
    assert "data: ixi" in out
    assert "over bicubic" in out


@pytest.mark.parametrize("notebook, slices, expected", [
    # six "patients" of two slices
    ("01_ldct_denoising.ipynb", 12, ("lodopab: 12 slices", "margin")),
    # tutorial 05 takes the reference images as objects and scans them itself; its quick
    # mode asks for twelve patients of two slices
    ("05_reconstruction.ipynb", 24,
     ("lodopab: 24 slices", "FBP + U-Net, 32 views", "notebook wall time")),
])
def test_ct_tutorials_run_on_lodopab_layout(notebook, slices, expected, tmp_path):
    write_fake_lodopab(tmp_path / "data" / "lodopab", n=slices, per_file=slices,
                       **LODOPAB_SHAPES)
    out = run_notebook(notebook, {"I2I_QUICK": "1", "I2I_DATASET": "lodopab",
                                  "I2I_DATA_DIR": str(tmp_path / "data")}, tmp_path)
    for text in expected:
        assert text in out


def write_fake_synthrad_brains(root: Path, n: int = 6) -> None:
    """Task1/brain/<patient>/{mr,ct,mask}.nii.gz: an ellipse of brain inside a skull ring
    and scalp, CT in int16 HU as in the real set, 1 mm voxels."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    r = np.hypot((yy - 48) / 40, (xx - 48) / 34)
    for i in range(n):
        folder = root / "synthrad2023" / "Task1" / "brain" / f"1BA{i:03d}"
        folder.mkdir(parents=True)
        ct2d = np.select([r < 0.8, r < 0.9, r < 1.0], [30, 1200, -80], -1000)
        mr2d = np.select([r < 0.8, r < 0.9, r < 1.0], [400, 20, 900], 0)
        ct = (ct2d[..., None] + rng.normal(0, 10, (96, 96, 10))).astype(np.int16)
        mr = (mr2d[..., None] * rng.uniform(0.9, 1.1, (96, 96, 10))).astype(np.float32)
        mask = np.repeat((r < 1.0)[..., None], 10, axis=2)
        for name, volume in (("ct", ct), ("mr", mr), ("mask", mask.astype(np.uint8))):
            io.write_nifti(folder / f"{name}.nii.gz", volume, spacing_mm=(1.0, 1.0, 1.0))


def test_mr_to_ct_tutorials_run_on_synthrad_layout(tmp_path):
    write_fake_synthrad_brains(tmp_path / "data")
    env = {"I2I_QUICK": "1", "I2I_DATASET": "synthrad", "I2I_DATA_DIR": str(tmp_path / "data")}
    out = run_notebook("03_mr_to_ct_pix2pix.ipynb", env, tmp_path)
    assert "data: synthrad" in out and "bone → air" in out
    out = run_notebook("04_cyclegan_unpaired.ipynb", env, tmp_path)
    assert "data: synthrad" in out and "the brain CycleGAN's MAE is" in out

