"""Real open data sets, one command away: registry, pinned hashes, licences, download.

Three data sets are registered in :data:`DATASETS`:

* ``lodopab``: LoDoPaB-CT (Zenodo record 3384092), low-dose parallel-beam CT: HDF5 files
  of 362² ground-truth images and 1000 x 513 noisy sinograms. CC BY 4.0.
* ``ixi``: IXI brain MRI (T1, T2, PD; NIfTI), about 580 healthy subjects. CC BY-SA 3.0.
* ``synthrad2023``: SynthRAD2023 Task 1 (Zenodo record 7260705), paired MR and CT of brain
  and pelvis (``mr.nii.gz``, ``ct.nii.gz``, ``mask.nii.gz`` per patient). CC BY-NC 4.0:
  non-commercial use only.

Downloads go through :func:`pooch.retrieve` with a pinned hash (a file that does not match
is deleted and the download refused), a progress bar and a resumable downloader (an
interrupted transfer keeps ``<file>.part`` and continues with an HTTP Range request the
next time). The licence is printed before anything is downloaded. Every file lives under
one data directory: ``$I2I_DATA_DIR`` if set, else ``pooch.os_cache("i2i_keras")``, in a
sub-folder per data set; archives are extracted next to themselves.

Command line (``python data_scripts/download.py --help``)::

    python data_scripts/download.py lodopab --parts test      # ~4.6 GB
    python data_scripts/download.py ixi --parts T2 PD --dest /data/ixi
    python data_scripts/download.py synthrad2023 --list      # files, sizes, hash sources

``--mirror URL`` fetches the same file names from another server (a teacher's copy on
the class network); hashes are still checked. ``--no-verify`` is needed to download a
file without a known hash and prints a warning.

Example
-------
>>> from i2i_keras import downloads
>>> folder = downloads.download("lodopab", parts=["test"])      # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pooch

ENV_VAR = "I2I_DATA_DIR"


class DownloadError(RuntimeError):
    """A download that failed or was refused; the message says what to do."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set.

    Attributes:
        name: file name on the server and on disk.
        url: where to get it.
        known_hash: ``"md5:..."`` or ``"sha256:..."``; None if no published hash exists.
        size_bytes: expected size, None if unknown.
        part: the selectable part it belongs to (``--parts``).
        hash_source: where the pinned hash comes from.
        hash_sources: how many independent public sources quote that hash (nothing here
            reaches the server to check it: 1 means single-source, see ``single_source``).
        hash_caveat: a known doubt about the hash, shown with it and when it refuses a file.
    """

    name: str
    url: str
    known_hash: str | None
    size_bytes: int | None
    part: str
    hash_source: str
    hash_sources: int = 1
    hash_caveat: str = ""

    @property
    def single_source(self) -> bool:
        """True when only one public source quotes ``known_hash``."""
        return self.hash_sources < 2


@dataclass(frozen=True)
class DatasetInfo:
    """A downloadable data set: files, licence, citation."""

    name: str
    title: str
    homepage: str
    licence: str
    licence_url: str
    citation: str
    files: tuple[RemoteFile, ...]
    default_parts: tuple[str, ...]
    notes: str = ""

    @property
    def parts(self) -> list[str]:
        return list(dict.fromkeys(f.part for f in self.files))

    def select(self, parts: Sequence[str] | None = None) -> list[RemoteFile]:
        parts = list(parts) if parts else list(self.default_parts)
        unknown = sorted(set(parts) - set(self.parts))
        if unknown:
            raise DownloadError(f"{self.name} has no part(s) {unknown}; choose from "
                                f"{self.parts}")
        return [f for f in self.files if f.part in parts]


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------

_LODOPAB_URL = "https://zenodo.org/records/3384092/files/{}?download=1"
# Every MD5 is Zenodo's (its record API, /api/records/3384092, field "checksum") as quoted by
# public code; this project cannot reach Zenodo to check. Sources found (2026-12):
#   [L] a torch LoDoPaBDataset loader: _FILE_INFOS, the MD5 of all nine files;
#   [C] a LoDoPaB test-sample converter: size and MD5 of both test archives (it reads their
#       members by byte range and checks their CRC-32s);
#   [A] a range-download script: size and MD5 of observation_validation.zip, compared at
#       run time with the checksum field of Zenodo's API record;
#   [S] a download script: the sizes of all six archives.
_LODOPAB_L = ("MD5 of Zenodo record 3384092 as quoted by a public torch LoDoPaBDataset loader "
              "(_FILE_INFOS)")
_LODOPAB_C = ("; the same MD5 and size pinned by a public LoDoPaB test-sample converter that "
              "reads the archive's members by byte range")
_LODOPAB_A = ("; the same MD5 and size checked at run time against the checksum field of "
              "Zenodo's API record by a public range-download script")
_LODOPAB_TRAIN_IDS_CAVEAT = (
    "disputed: the only source also gives this exact MD5 to another data set's file "
    "(apple_defect_partial.csv of the AppleCT data, Zenodo record 4212301, in the same "
    "author's AppleCTDataset loader), so one of the two is a copy-paste error and no second "
    "source settles which. If it is refused twice, the pinned MD5 is the likely culprit: "
    "download the train part with --no-verify, compare `md5sum` of its three files with "
    "the checksums Zenodo lists (https://zenodo.org/api/records/3384092, files -> "
    "checksum), and report the difference")
_LODOPAB_FILES = tuple(
    RemoteFile(name, _LODOPAB_URL.format(name), f"md5:{md5}", size, part,
               _LODOPAB_L + extra, 1 + bool(extra), caveat)
    for name, md5, size, part, extra, caveat in [
        ("patient_ids_rand_train.csv", "4fee01b076920f85fc92e0de774dc277", None, "train", "",
         _LODOPAB_TRAIN_IDS_CAVEAT),
        ("ground_truth_train.zip", "f06829ccf2b9bb817abd093ce490b2c7", 15940074239, "train",
         "", ""),
        ("observation_train.zip", "c4fde721ac5862469812de49f98fb0a3", 29938738627, "train",
         "", ""),
        ("patient_ids_rand_validation.csv", "a387e619074f49573ae376c60a948db4", None,
         "validation", "", ""),
        ("ground_truth_validation.zip", "666c36f403734842f14ca8811a63b8f7", 1567086812,
         "validation", "", ""),
        ("observation_validation.zip", "3cff406e09c59774912655eb7a72cfcf", 2944573582,
         "validation", _LODOPAB_A, ""),
        ("patient_ids_rand_test.csv", "e86068312ad8a039e03f7f929352f7fd", None, "test", "", ""),
        ("ground_truth_test.zip", "ecc655767fbe3d40908ca823921f4c7f", 1582139537, "test",
         _LODOPAB_C, ""),
        ("observation_test.zip", "9ae6b053bb1faa94d573311af8ec67b2", 2996574366, "test",
         _LODOPAB_C, ""),
    ]
)

_IXI_URL = "http://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI/{}"
_IXI_HASHES = ("MD5 used by TorchIO (torchio.datasets.IXI) and MONAI's IXI tutorials; the "
               "IXI site itself publishes no checksums")
_IXI_FILES = tuple(
    RemoteFile(f"IXI-{weighting}.tar", _IXI_URL.format(f"IXI-{weighting}.tar"), f"md5:{md5}",
               None, weighting, _IXI_HASHES)
    for weighting, md5 in [("T1", "34901a0593b41dd19c1a1f746eac2d58"),
                           ("T2", "e3140d78730ecdd32ba92da48c0a9aaa"),
                           ("PD", "88ecd9d1fa33cb4a2278183b42ffd749")]
)

_SYNTHRAD_FILES = (
    RemoteFile("Task1.zip", "https://zenodo.org/records/7260705/files/Task1.zip?download=1",
               "md5:360bc61e2320d5c5a7145454a81c566a", 14471900926, "task1",
               "MD5 and size of Zenodo's API listing for record 7260705 as recorded in a "
               "public third-party download manifest; not cross-checked with a second "
               "source"),
)

DATASETS: dict[str, DatasetInfo] = {
    "lodopab": DatasetInfo(
        name="lodopab",
        title="LoDoPaB-CT: low-dose parallel-beam CT (Zenodo 3384092)",
        homepage="https://zenodo.org/records/3384092",
        licence="CC BY 4.0 (data derived from LIDC-IDRI, CC BY 3.0)",
        licence_url="https://creativecommons.org/licenses/by/4.0/",
        citation=("Leuschner J, Schmidt M, Otero Baguer D, Maass P. LoDoPaB-CT, a benchmark "
                  "dataset for low-dose computed tomography reconstruction. Sci Data 8, 109 "
                  "(2021). doi:10.1038/s41597-021-00893-z; and Armato SG et al. The LIDC/IDRI "
                  "database. Med Phys 38, 915 (2011)"),
        files=_LODOPAB_FILES,
        default_parts=("test",),
        notes=("Parts: train (46 GB), validation (4.5 GB), test (4.6 GB); each is about twice "
               "as large once extracted. 'test' is enough for the tutorials."),
    ),
    "ixi": DatasetInfo(
        name="ixi",
        title="IXI brain MRI, T1/T2/PD (Imperial College London)",
        homepage="https://brain-development.org/ixi-dataset/",
        licence="CC BY-SA 3.0",
        licence_url="https://creativecommons.org/licenses/by-sa/3.0/",
        citation=("IXI - Information eXtraction from Images, EPSRC GR/S21533/02, "
                  "https://brain-development.org/ixi-dataset/"),
        files=_IXI_FILES,
        default_parts=("T1", "T2", "PD"),
        notes="T2 and PD come from one dual-echo acquisition and are co-registered; T1 is not.",
    ),
    "synthrad2023": DatasetInfo(
        name="synthrad2023",
        title="SynthRAD2023 Task 1: paired MR and CT, brain and pelvis (Zenodo 7260705)",
        homepage="https://zenodo.org/records/7260705",
        licence="CC BY-NC 4.0 - NON-COMMERCIAL use only",
        licence_url="https://creativecommons.org/licenses/by-nc/4.0/",
        citation=("Thummerer A, et al. SynthRAD2023 Grand Challenge dataset: generating "
                  "synthetic CT for radiotherapy. Med Phys 50, 4664-4674 (2023). "
                  "doi:10.1002/mp.16529"),
        files=_SYNTHRAD_FILES,
        default_parts=("task1",),
        notes="14.5 GB zip; about 360 patients (180 brain, 180 pelvis) with mr/ct/mask NIfTI.",
    ),
}


# --------------------------------------------------------------------------------------
# Where files go
# --------------------------------------------------------------------------------------

def data_dir() -> Path:
    """The one data directory: ``$I2I_DATA_DIR`` if set, else pooch's per-user cache.

    >>> data_dir()            # with I2I_DATA_DIR=/data/i2i     # doctest: +SKIP
    PosixPath('/data/i2i')
    """
    configured = os.environ.get(ENV_VAR)
    return Path(configured).expanduser() if configured else Path(pooch.os_cache("i2i_keras"))


def dataset_dir(name: str) -> Path:
    """Folder of one data set inside :func:`data_dir` (where loaders look by default)."""
    return data_dir() / name


# --------------------------------------------------------------------------------------
# Resumable download
# --------------------------------------------------------------------------------------

class ResumableDownloader:
    """A pooch downloader that survives interruptions.

    Bytes go to ``part_path`` (``<file>.part``), which persists across runs; when it
    exists the next call asks the server for the rest only (``Range: bytes=N-``). If the
    server ignores ranges the download restarts from zero and says so. When complete the
    part file becomes pooch's temporary file, which pooch then hash-checks and moves
    into place (or deletes when the hash does not match).
    """

    chunk_size = 1 << 16

    def __init__(self, part_path: Path, progressbar: bool = True, timeout: float = 60.0,
                 log: Callable[[str], None] = print) -> None:
        self.part_path = Path(part_path)
        self.progressbar = progressbar
        self.timeout = timeout
        self.log = log

    def __call__(self, url: str, output_file: str, pooch_instance=None, **kwargs) -> None:
        import requests
        from tqdm.auto import tqdm

        part, name = self.part_path, self.part_path.name.removesuffix(".part")
        done = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={done}-"} if done else {}
        try:
            response = requests.get(url, headers=headers, stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise DownloadError(f"could not reach {url} for {name} ({exc}); check the network "
                                "connection and run the command again") from exc
        with response:
            if done and response.status_code == 416:  # nothing left: the part is complete
                os.replace(part, output_file)
                return
            if response.status_code >= 400:
                raise DownloadError(f"{url} answered HTTP {response.status_code} for {name}; "
                                    "check the URL (or --mirror) and try again later")
            if done and response.status_code == 206:
                if not response.headers.get("Content-Range", "").startswith(f"bytes {done}-"):
                    raise DownloadError(f"{url} resumed {name} at the wrong offset; delete "
                                        f"{part} and run again")
                self.log(f"resuming {name} after {done / 1e6:.1f} MB")
            elif done:
                self.log(f"{url} does not support resuming; downloading {name} again")
                done = 0
            length = response.headers.get("Content-Length")
            total = done + int(length) if length is not None else None
            received = done
            bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=name,
                       disable=not self.progressbar)
            try:
                with open(part, "ab" if done else "wb") as handle:
                    for chunk in response.iter_content(self.chunk_size):
                        handle.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
            except requests.RequestException as exc:
                raise self._interrupted(name, received, total, exc) from exc
            finally:
                bar.close()
        if total is not None and received < total:
            raise self._interrupted(name, received, total, "connection closed early")
        os.replace(part, output_file)

    def _interrupted(self, name: str, received: int, total: int | None,
                     reason) -> DownloadError:
        of_total = f" of {total / 1e6:.1f}" if total else ""
        return DownloadError(
            f"download of {name} interrupted after {received / 1e6:.1f}{of_total} MB "
            f"({reason}). The partial file is kept at {self.part_path}: run the same "
            "command again to resume")


def _extractor(name: str):
    stem = name.split(".")[0]
    if name.endswith(".zip"):
        return pooch.Unzip(extract_dir=stem)
    if name.endswith((".tar", ".tar.gz", ".tgz")):
        return pooch.Untar(extract_dir=stem)
    return None


def _size(n_bytes: float | None) -> str:
    return "unknown size" if n_bytes is None else f"{n_bytes / 1e9:.2f} GB"


def print_licence(info: DatasetInfo, files: Sequence[RemoteFile],
                  log: Callable[[str], None] = print) -> None:
    """Print title, licence, citation and what is about to be downloaded."""
    known = [f.size_bytes for f in files if f.size_bytes is not None]
    total = ("unknown size" if not known else
             ("at least " if len(known) < len(files) else "") + _size(sum(known)))
    log(f"{info.title}\n  {info.homepage}\n"
        f"  Licence: {info.licence} ({info.licence_url})\n"
        f"  By downloading you agree to its terms. Please cite: {info.citation}")
    if info.notes:
        log(f"  {info.notes}")
    log(f"  Files: {', '.join(f.name for f in files)} ({total} in all)")


def download(dataset: str | DatasetInfo, dest: str | Path | None = None, *,
             parts: Sequence[str] | None = None, mirror: str | None = None,
             verify: bool = True, extract: bool = True, progressbar: bool = True,
             log: Callable[[str], None] = print) -> Path:
    """Download (and extract) a registered data set; return its folder.

    Already downloaded files that match their hash are not fetched again.

    Args:
        dataset: a key of :data:`DATASETS` or a :class:`DatasetInfo`.
        dest: target folder; default ``data_dir() / name``.
        parts: which parts (see ``DatasetInfo.parts``); default ``default_parts``.
        mirror: base URL serving the same file names instead of the original URLs.
        verify: check pinned hashes. ``False`` downloads without checking (warned);
            it is required for files that have no published hash.
        extract: unpack .zip/.tar archives next to themselves.
        progressbar: show a tqdm progress bar.
        log: where messages go.

    Raises:
        DownloadError: network problem (partial file kept for resuming), hash mismatch
            (file deleted), unknown part, or a file without a hash and ``verify=True``.

    Example:
        >>> folder = download("ixi", parts=["T2"])                 # doctest: +SKIP
    """
    info = DATASETS[dataset] if isinstance(dataset, str) else dataset
    files = info.select(parts)
    folder = Path(dest).expanduser() if dest else dataset_dir(info.name)
    print_licence(info, files, log)
    missing_hash = [f.name for f in files if f.known_hash is None]
    if missing_hash and verify:
        raise DownloadError(f"no published hash for {', '.join(missing_hash)}, so the download "
                            "cannot be verified. Pass --no-verify (verify=False) to download "
                            "anyway, at your own risk")
    if not verify:
        log("WARNING: hash verification is OFF (--no-verify): a corrupted or altered file "
            "will not be detected")
    folder.mkdir(parents=True, exist_ok=True)
    for remote in files:
        again = " ".join(["python data_scripts/download.py", info.name, "--parts", remote.part,
                          *(["--dest", str(folder)] if dest else []),
                          *(["--mirror", mirror] if mirror else [])])
        url = f"{mirror.rstrip('/')}/{remote.name}" if mirror else remote.url
        downloader = ResumableDownloader(folder / f"{remote.name}.part", progressbar, log=log)
        try:
            pooch.retrieve(url, remote.known_hash if verify else None, fname=remote.name,
                           path=folder, downloader=downloader,
                           processor=_extractor(remote.name) if extract else None)
        except ValueError as exc:  # pooch: hash mismatch (the download has been deleted)
            # A copy already on disk was fetched again only because it did not match
            # either: remove it too, so no loader reads an unverified file.
            (folder / remote.name).unlink(missing_ok=True)
            sources = ("a single public source" if remote.single_source else
                       f"{remote.hash_sources} independent public sources")
            raise DownloadError(
                f"refused {remote.name}: it does not match the pinned hash {remote.known_hash} "
                f"and was deleted ({exc}). The transfer may have been corrupted; download it "
                f"again with:\n  {again}\nIf it is refused again, the server's file changed "
                f"or the registry's hash is wrong (it comes from {sources}: "
                f"{remote.hash_source}"
                f"{'; ' + remote.hash_caveat if remote.hash_caveat else ''})") from exc
        log(f"  {remote.name}: ok")
    return folder


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

def _list(info: DatasetInfo, log: Callable[[str], None]) -> None:
    log(f"{info.title}\n  Licence: {info.licence}\n  default parts: "
        f"{' '.join(info.default_parts)}")
    for f in info.files:
        checked = ("" if f.known_hash is None else " (single source)" if f.single_source
                   else f" ({f.hash_sources} sources)")
        log(f"  [{f.part}] {f.name}  {_size(f.size_bytes)}  {f.known_hash or 'NO HASH'}"
            f"{checked}{'  ' + f.hash_caveat.split(':')[0].upper() if f.hash_caveat else ''}")
    for source in dict.fromkeys(f.hash_source for f in info.files):
        log(f"  hash source: {source}")
    for f in info.files:
        if f.hash_caveat:
            log(f"  {f.name}: {f.hash_caveat}")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="download.py",
        description="Download a real data set for the i2i_keras tutorials (hash-checked, "
                    f"resumable). Files go to --dest or ${ENV_VAR}/<name> (default "
                    f"{pooch.os_cache('i2i_keras')}/<name>).")
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--dest", help="target folder (default: data dir / dataset name)")
    parser.add_argument("--parts", nargs="+", help="parts to fetch (see --list)")
    parser.add_argument("--mirror", help="base URL of a server with the same file names")
    parser.add_argument("--no-verify", action="store_true",
                        help="do not check hashes (needed for files without one; unsafe)")
    parser.add_argument("--no-extract", action="store_true", help="keep archives packed")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--list", action="store_true", help="list files and exit")
    args = parser.parse_args(argv)
    info = DATASETS[args.dataset]
    if args.list:
        _list(info, print)
        return 0
    try:
        folder = download(info, args.dest, parts=args.parts, mirror=args.mirror,
                          verify=not args.no_verify, extract=not args.no_extract,
                          progressbar=not args.no_progress)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"done: {folder}")
    return 0
