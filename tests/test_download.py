"""The download stage's URL source: compressed files, zip members, and what fails cleanly."""

import bz2
import gzip
import hashlib
import io
import lzma
import zipfile

import pytest

from mnist_mlp import download as download_module
from mnist_mlp.download import download
from mnist_mlp.errors import DownloadError
from mnist_mlp.params import DownloadParams

from conftest import run_stage, set_params


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def fetch(tmp_path, served: bytes, fragment: str = "", sha256: str | None = None):
    (tmp_path / "served").write_bytes(served)
    url = (tmp_path / "served").as_uri() + (f"#{fragment}" if fragment else "")
    params = DownloadParams(source="url", train=url, train_sha256=sha256, test=None)
    return download(params, tmp_path / "raw")[0].read_bytes()


@pytest.mark.parametrize("pack", [lambda b: b, gzip.compress, bz2.compress, lzma.compress],
                         ids=["plain", "gzip", "bzip2", "xz"])
def test_compressed_csvs_are_unpacked_and_checked_as_served(tmp_path, small_csvs, pack):
    csv = small_csvs[0].read_bytes()
    served = pack(csv)
    assert fetch(tmp_path, served, sha256=hashlib.sha256(served).hexdigest()) == csv
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch(tmp_path, served, sha256=hashlib.sha256(csv + b"x").hexdigest())


def test_zip_members_by_fragment_or_alone(tmp_path, small_csvs):
    csv = small_csvs[0].read_bytes()
    kaggle = zipped({"train.csv": csv, "test.csv": b"pixel0\n0\n", "sample_submission.csv": b"a"})
    assert fetch(tmp_path, kaggle, "train.csv") == csv
    with pytest.raises(DownloadError, match=r"3 CSV members \(train.csv, test.csv, "
                                            r"sample_submission.csv\); name one as .*#MEMBER"):
        fetch(tmp_path, kaggle)
    with pytest.raises(DownloadError, match="no member 'nope.csv'; CSV members: train.csv"):
        fetch(tmp_path, kaggle, "nope.csv")
    assert fetch(tmp_path, zipped({"data/mnist.csv": csv, "README": b"about"})) == csv
    with pytest.raises(DownloadError, match=r"a zip archive with no CSV member \(members: "
                                            r"README\)"):
        fetch(tmp_path, zipped({"README": b"about"}))
    with pytest.raises(DownloadError, match=r"a zip archive with no CSV member \(members: "
                                            r"none\)"):
        fetch(tmp_path, zipped({}))  # no member header: the archive starts with its end


def test_broken_or_oversized_archives_fail_and_keep_the_old_output(tmp_path, small_csvs,
                                                                   monkeypatch):
    csv = small_csvs[0].read_bytes()
    assert fetch(tmp_path, gzip.compress(csv)) == csv  # an earlier good download
    with pytest.raises(DownloadError, match="cannot unpack .*end-of-stream"):
        fetch(tmp_path, gzip.compress(csv)[:1000])
    with pytest.raises(DownloadError, match="cannot unpack"):
        fetch(tmp_path, b"PK\x03\x04" + b"not a zip" * 10)
    monkeypatch.setattr(download_module, "MAX_UNPACKED_BYTES", 1 << 20)
    with pytest.raises(DownloadError, match="unpacks to more than 1 MiB"):
        fetch(tmp_path, gzip.compress(bytes(2 << 20)))
    assert (tmp_path / "raw/train.csv").read_bytes() == csv
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".raw")] == []  # no temp


def test_download_stage_unpacks_a_gzip_url_for_prepare(workdir, small_csvs):
    gz = workdir / "train.csv.gz"
    gz.write_bytes(gzip.compress(small_csvs[0].read_bytes()))
    set_params(workdir, download={"train": gz.as_uri(), "train_sha256": None})
    run_stage("download", "--out", "data/raw", cwd=workdir)
    assert (workdir / "data/raw/train.csv").read_bytes() == small_csvs[0].read_bytes()
    run_stage("prepare", "--raw", "data/raw", "--train", "p/train.npz", "--dev", "p/dev.npz",
              "--test", "p/test.npz", cwd=workdir)
