"""Downloaders against a local HTTP server on 127.0.0.1 serving fakes in the real layouts."""

import hashlib
import http.server
import io as bytes_io
import runpy
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pooch
import pytest
from test_loaders import write_fake_ixi, write_fake_lodopab, write_fake_synthrad

from i2i_keras import downloads, loaders
from i2i_keras.downloads import DatasetInfo, DownloadError, RemoteFile

REPO = Path(__file__).resolve().parents[1]


class FakeServer(http.server.ThreadingHTTPServer):
    """Serves ``files`` (name -> bytes); can honour Range requests and cut one transfer."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.support_range = True
        self.cut_next_after: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        server: FakeServer = self.server
        name = self.path.split("?")[0].lstrip("/")
        requested_range = self.headers.get("Range")
        server.requests.append((name, requested_range))
        data = server.files.get(name)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if requested_range and server.support_range:
            start = int(requested_range.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cut_next_after is not None:  # announce everything, send part, hang up
            body, server.cut_next_after = body[: server.cut_next_after], None
            self.close_connection = True
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = FakeServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def zip_folder(folder: Path, root: Path) -> bytes:
    buffer = bytes_io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


def tar_files(paths) -> bytes:
    buffer = bytes_io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in paths:
            archive.add(path, arcname=path.name)
    return buffer.getvalue()


def md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


@pytest.fixture
def fake_lodopab_test(tmp_path):
    """The LoDoPaB test part as served files: two zips (HDF5 inside) and the id CSV."""
    source = tmp_path / "source"
    write_fake_lodopab(source, n=5, image=64, views=120, bins=91)
    return {
        "patient_ids_rand_test.csv": (source / "patient_ids_rand_test.csv").read_bytes(),
        "ground_truth_test.zip": _zip_matching(source, "ground_truth_test_*.hdf5"),
        "observation_test.zip": _zip_matching(source, "observation_test_*.hdf5"),
    }


def _zip_matching(folder: Path, pattern: str) -> bytes:
    buffer = bytes_io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.glob(pattern)):
            archive.write(path, path.name)  # flat, as in the real zips
    return buffer.getvalue()


def fake_info(files: dict[str, bytes], url: str, *, hashes=True, name="lodopab") -> DatasetInfo:
    return DatasetInfo(
        name=name, title=f"fake {name}", homepage=url, licence="CC BY 4.0",
        licence_url="https://creativecommons.org/licenses/by/4.0/", citation="test",
        files=tuple(RemoteFile(n, f"{url}/{n}", md5(d) if hashes else None, len(d), "test",
                               "computed in the test") for n, d in files.items()),
        default_parts=("test",))


# --- downloads ---------------------------------------------------------------------------

def test_download_verifies_extracts_and_loaders_read_it(server, fake_lodopab_test, tmp_path,
                                                        capsys):
    server.files.update(fake_lodopab_test)
    folder = downloads.download(fake_info(fake_lodopab_test, server.url), tmp_path / "lodopab",
                                progressbar=False)
    out = capsys.readouterr().out
    assert out.index("Licence: CC BY 4.0") < out.index("ground_truth_test.zip: ok")
    assert (folder / "ground_truth_test" / "ground_truth_test_000.hdf5").exists()
    data = loaders.load_lodopab("test", data_dir=folder)
    assert data.images_hu.shape == (5, 64, 64) and list(data.patient) == [100, 100, 101,
                                                                             101, 102]
    # Second run: files are present and verified, nothing is requested again.
    n_requests = len(server.requests)
    downloads.download(fake_info(fake_lodopab_test, server.url), folder, progressbar=False)
    assert len(server.requests) == n_requests


def test_hash_mismatch_is_refused_and_file_deleted(server, fake_lodopab_test, tmp_path, capsys):
    """The real registry, pointed at the fakes: their hashes cannot match. The refusal names
    the file, gives the command that downloads it again (same part, folder and mirror) and
    says how many sources the pinned hash has."""
    server.files.update(fake_lodopab_test)
    dest = tmp_path / "dest"
    with pytest.raises(DownloadError, match=r"refused patient_ids_rand_test\.csv: it does not "
                                            r"match the pinned hash md5:e86068") as refused:
        downloads.download("lodopab", dest, parts=["test"], mirror=server.url,
                           progressbar=False)
    message = str(refused.value)
    assert (f"\n  python data_scripts/download.py lodopab --parts test --dest {dest} --mirror "
            f"{server.url}\n") in message
    assert "a single public source" in message  # the test CSV's MD5 has one source
    assert "Licence: CC BY 4.0" in capsys.readouterr().out  # printed before downloading
    assert not any(dest.iterdir())  # neither the file nor a .part is left


def test_a_wrong_local_file_is_fetched_again_or_refused_by_name(server, tmp_path):
    """A file on disk that does not match its hash (damaged after download) is fetched again;
    if the server's copy does not match either, the refusal names the file and the command.
    A registry hash that is wrong fails the same way: nothing is accepted unverified."""
    good, bad = b"100\n100\n101\n", b"100\n100\n10"
    server.files["patient_ids_rand_test.csv"] = good
    info = fake_info({"patient_ids_rand_test.csv": good}, server.url)
    (tmp_path / "patient_ids_rand_test.csv").write_bytes(bad)  # truncated on disk
    downloads.download(info, tmp_path, progressbar=False)
    assert (tmp_path / "patient_ids_rand_test.csv").read_bytes() == good
    wrong = DatasetInfo(**{**vars(info), "files": (RemoteFile(
        "patient_ids_rand_test.csv", f"{server.url}/patient_ids_rand_test.csv", md5(bad), None,
        "test", "a source that copied the wrong file's MD5", 1, "disputed: test"),)})
    with pytest.raises(DownloadError, match=r"refused patient_ids_rand_test\.csv.*\n  python "
                                            r"data_scripts/download\.py lodopab --parts test "
                                            r"--dest .*\n.*a single public source: a source "
                                            r"that copied the wrong file's MD5; disputed: test"):
        downloads.download(wrong, tmp_path, progressbar=False)
    assert not (tmp_path / "patient_ids_rand_test.csv").exists()


def test_interrupted_download_is_reported_then_resumed(server, fake_lodopab_test, tmp_path):
    data = fake_lodopab_test["observation_test.zip"]
    assert len(data) > 200_000
    server.files["observation_test.zip"] = data
    info = fake_info({"observation_test.zip": data}, server.url)
    server.cut_next_after = len(data) // 2
    with pytest.raises(DownloadError, match=r"download of observation_test\.zip interrupted "
                                            r"after .* MB.*run the same command again"):
        downloads.download(info, tmp_path, extract=False, progressbar=False)
    part = tmp_path / "observation_test.zip.part"
    assert 0 < part.stat().st_size < len(data)
    kept = part.stat().st_size
    downloads.download(info, tmp_path, extract=False, progressbar=False)
    assert server.requests[-1] == ("observation_test.zip", f"bytes={kept}-")
    assert (tmp_path / "observation_test.zip").read_bytes() == data
    assert not part.exists()


def test_server_without_range_support_restarts(server, fake_lodopab_test, tmp_path, capsys):
    data = fake_lodopab_test["ground_truth_test.zip"]
    server.files["ground_truth_test.zip"] = data
    server.support_range = False
    (tmp_path / "ground_truth_test.zip.part").write_bytes(data[:1000])
    info = fake_info({"ground_truth_test.zip": data}, server.url)
    downloads.download(info, tmp_path, extract=False, progressbar=False)
    assert "does not support resuming" in capsys.readouterr().out
    assert (tmp_path / "ground_truth_test.zip").read_bytes() == data


def test_file_without_hash_needs_no_verify(server, tmp_path, capsys):
    server.files["notes.csv"] = b"1\n2\n"
    info = fake_info({"notes.csv": b"1\n2\n"}, server.url, hashes=False)
    with pytest.raises(DownloadError, match=r"no published hash for notes\.csv.*--no-verify"):
        downloads.download(info, tmp_path, progressbar=False)
    assert server.requests == []
    downloads.download(info, tmp_path, verify=False, progressbar=False)
    assert "WARNING: hash verification is OFF" in capsys.readouterr().out
    assert (tmp_path / "notes.csv").read_bytes() == b"1\n2\n"


def test_http_errors_and_unknown_parts(server, tmp_path):
    info = fake_info({"missing.zip": b"x"}, server.url)
    with pytest.raises(DownloadError, match=r"HTTP 404 for missing\.zip"):
        downloads.download(info, tmp_path, progressbar=False)
    with pytest.raises(DownloadError, match=r"no part\(s\) \['T3'\]"):
        downloads.download("ixi", tmp_path, parts=["T3"])


def test_data_dir_comes_from_one_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("I2I_DATA_DIR", str(tmp_path))
    assert downloads.data_dir() == tmp_path
    assert downloads.dataset_dir("ixi") == tmp_path / "ixi"
    monkeypatch.delenv("I2I_DATA_DIR")
    assert downloads.data_dir() == Path(pooch.os_cache("i2i_keras"))


def test_registry_pins_a_hash_and_a_licence_for_every_file():
    assert set(downloads.DATASETS) == {"lodopab", "ixi", "synthrad2023"}
    for info in downloads.DATASETS.values():
        assert info.licence and info.citation and set(info.default_parts) <= set(info.parts)
        for remote in info.files:
            assert remote.url.startswith("http") and remote.hash_source
            algorithm, digest = remote.known_hash.split(":")
            assert algorithm == "md5" and len(digest) == 32
    assert "CC BY-NC 4.0" in downloads.DATASETS["synthrad2023"].licence
    assert "CC BY-SA 3.0" in downloads.DATASETS["ixi"].licence
    assert "3384092" in downloads.DATASETS["lodopab"].homepage
    assert "7260705" in downloads.DATASETS["synthrad2023"].homepage


def test_lodopab_hashes_say_how_many_sources_quote_them():
    """Nothing here reaches Zenodo, so every LoDoPaB MD5 is as good as the public code that
    quotes it (downloads.py lists them). Two sources agree on the test archives and
    observation_validation.zip; the rest have one; the train ids' MD5 is disputed: its only
    source gives the same MD5 to the AppleCT data set's apple_defect_partial.csv."""
    files = {f.name: f for f in downloads.DATASETS["lodopab"].files}
    confirmed = {name for name, f in files.items() if not f.single_source}
    assert confirmed == {"ground_truth_test.zip", "observation_test.zip",
                         "observation_validation.zip"}
    disputed = {name for name, f in files.items() if f.hash_caveat}
    assert disputed == {"patient_ids_rand_train.csv"}
    assert files["patient_ids_rand_train.csv"].known_hash == \
        "md5:4fee01b076920f85fc92e0de774dc277"
    assert "apple_defect_partial.csv" in files["patient_ids_rand_train.csv"].hash_caveat
    assert len({f.known_hash for f in files.values()}) == len(files)  # no copy-paste inside
    for info in downloads.DATASETS.values():  # IXI (TorchIO/MONAI) and SynthRAD: one source
        assert all(f.hash_sources >= 1 for f in info.files)


# --- command line ------------------------------------------------------------------------

def test_cli_synthrad_from_a_mirror_then_loaders(server, tmp_path, capsys):
    write_fake_synthrad(tmp_path / "src")
    server.files["Task1.zip"] = zip_folder(tmp_path / "src" / "Task1", tmp_path / "src")
    dest = tmp_path / "synthrad"
    status = downloads.main(["synthrad2023", "--dest", str(dest), "--mirror", server.url,
                             "--no-verify", "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0
    assert out.index("NON-COMMERCIAL") < out.index("WARNING: hash verification is OFF")
    pairs = loaders.load_synthrad_slices("pelvis", slices_per_patient=2, size=None,
                                         data_dir=dest)
    assert pairs.patient == ["1PA004", "1PA004"]
    # Same mirror with verification: the fake cannot match the pinned MD5.
    (dest / "Task1.zip").unlink()
    status = downloads.main(["synthrad2023", "--dest", str(dest), "--mirror", server.url,
                             "--no-progress"])
    assert status == 1 and "error: refused Task1.zip" in capsys.readouterr().err


def test_cli_ixi_tar_layout(server, tmp_path):
    written = write_fake_ixi(tmp_path / "src", weightings=("T2",))
    server.files["IXI-T2.tar"] = tar_files(sorted(written.glob("*.nii.gz")))
    dest = tmp_path / "ixi"
    assert downloads.main(["ixi", "--parts", "T2", "--dest", str(dest), "--mirror",
                           server.url, "--no-verify", "--no-progress"]) == 0
    assert len(loaders.ixi_files("T2", dest)) == 2


def test_data_scripts_download_is_a_thin_cli(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["download.py", "lodopab", "--list"])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "data_scripts" / "download.py"), run_name="__main__")
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "observation_test.zip" in out and "hash source" in out
    assert "md5:9ae6b053bb1faa94d573311af8ec67b2 (2 sources)" in out
    assert "md5:4fee01b076920f85fc92e0de774dc277 (single source)  DISPUTED" in out
