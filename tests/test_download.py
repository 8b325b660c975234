"""The download stage's URL source: compressed files, zip members, and what fails cleanly."""

import bz2
import contextlib
import functools
import gzip
import hashlib
import http.server
import io
import lzma
import re
import socket
import ssl
import threading
import time
import zipfile
from pathlib import Path

import pytest
import trustme

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


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(site: Path, handler=QuietHandler, tls: ssl.SSLContext | None = None):
    """The base URL of a local HTTP server over ``site`` (Python's http.server, in a thread);
    HTTPS with ``tls``, a server-side context holding the certificate."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(site)))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_site(tmp_path, monkeypatch):
    """(folder, base URL) of a local HTTP server over that folder."""
    monkeypatch.setenv("no_proxy", "*")  # a proxy set for the machine must not take 127.0.0.1
    site = tmp_path / "site"
    site.mkdir()
    with serving(site) as base:
        yield site, base


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_http_urls_are_fetched_checked_and_failures_named(tmp_path, small_csvs, http_site):
    site, base = http_site
    train, test = (path.read_bytes() for path in small_csvs)
    (site / "train.csv.gz").write_bytes(gzip.compress(train))
    (site / "test.csv").write_bytes(test)
    params = DownloadParams(source="url", train=f"{base}/train.csv.gz",
                            train_sha256=sha256_of((site / "train.csv.gz").read_bytes()),
                            test=f"{base}/test.csv", test_sha256=sha256_of(test))
    assert [path.read_bytes() for path in download(params, tmp_path / "raw")] == [train, test]

    def failure(url):
        with pytest.raises(DownloadError) as info:
            download(DownloadParams(source="url", train=url, train_sha256="0" * 64, test=None),
                     tmp_path / "raw")
        return str(info.value)

    assert failure(f"{base}/nope.csv") == f"{base}/nope.csv: HTTP 404 File not found"
    with socket.socket() as closed:  # a port that nothing listens on once this socket is shut
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert failure(f"http://127.0.0.1:{port}/train.csv") == \
        f"http://127.0.0.1:{port}/train.csv: cannot be fetched (Connection refused)"
    assert failure(f"{base}/test.csv") == (
        f"{base}/test.csv: sha256 mismatch: expected {'0' * 64} (download.train_sha256), got "
        f"{sha256_of(test)}; if this is the file you meant, set download.train_sha256 to its "
        "sha256, or to null to skip the check")
    with pytest.raises(DownloadError, match=r"\(download.test_sha256\), got .* set "
                                            r"download.test_sha256 to its sha256"):
        download(params.model_copy(update={"test_sha256": "0" * 64}), tmp_path / "raw")
    assert (tmp_path / "raw/train.csv").read_bytes() == train  # each failure kept the output


def test_https_urls_are_fetched_when_their_issuer_is_trusted(tmp_path, small_csvs, monkeypatch):
    """Without the issuer among the trusted CAs (a company's TLS proxy, a server's own CA), the
    message says how to trust it; a hostname mismatch, which trusting does not mend, does not."""
    monkeypatch.setenv("no_proxy", "*")
    site = tmp_path / "site"
    site.mkdir()
    train = small_csvs[0].read_bytes()
    (site / "train.csv").write_bytes(train)
    issuer = trustme.CA()
    issuer.cert_pem.write_to_path(str(tmp_path / "issuer.pem"))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    def fetch_over_tls(identity: str, trusted_cas: Path | None) -> bytes | str:
        """The file fetched by download(), or its error message."""
        if trusted_cas is None:
            monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        else:
            monkeypatch.setenv("SSL_CERT_FILE", str(trusted_cas))
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        issuer.issue_cert(identity).configure_cert(tls)
        with serving(site, tls=tls) as base:
            params = DownloadParams(source="url", train=f"{base}/train.csv",
                                    train_sha256=sha256_of(train), test=None)
            try:
                return download(params, tmp_path / "raw")[0].read_bytes()
            except DownloadError as error:
                return str(error)

    assert fetch_over_tls("127.0.0.1", tmp_path / "issuer.pem") == train
    untrusted = fetch_over_tls("127.0.0.1", None)
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+/train\.csv: cannot be fetched \(\[SSL: "
                        r"CERTIFICATE_VERIFY_FAILED\] certificate verify failed: unable to get "
                        r"local issuer certificate \(_ssl\.c:\d+\); to trust its issuer, set "
                        r"SSL_CERT_FILE to a PEM file of its CA certificate\)",
                        untrusted), untrusted
    mismatched = fetch_over_tls("digits.example", tmp_path / "issuer.pem")
    assert re.search(r"certificate verify failed: IP address mismatch.*\)$", mismatched)
    assert "SSL_CERT_FILE" not in mismatched
    assert (tmp_path / "raw/train.csv").read_bytes() == train  # failures kept the output


class StallingHandler(QuietHandler):
    """Sends the headers and half of the file, then stops answering."""

    def do_GET(self):
        data = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:len(data) // 2])
        self.wfile.flush()
        time.sleep(5)


def test_a_server_that_stops_answering_fails_after_the_timeout(tmp_path, small_csvs,
                                                                monkeypatch):
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setattr(download_module, "URL_TIMEOUT_SECONDS", 0.5)
    (tmp_path / "train.csv").write_bytes(small_csvs[0].read_bytes())
    with serving(tmp_path, StallingHandler) as base:
        url = f"{base}/train.csv"
        with pytest.raises(DownloadError) as info:
            download(DownloadParams(source="url", train=url, train_sha256="0" * 64, test=None),
                     tmp_path / "raw")
    # Without the timeout the read would wait out the stall and end on a short transfer.
    assert str(info.value) == f"{url}: transfer failed (timed out)"
    assert not (tmp_path / "raw").exists()


def test_download_stage_unpacks_a_gzip_url_for_prepare(workdir, small_csvs):
    gz = workdir / "train.csv.gz"
    gz.write_bytes(gzip.compress(small_csvs[0].read_bytes()))
    set_params(workdir, download={"train": gz.as_uri(), "train_sha256": None})
    run_stage("download", "--out", "data/raw", cwd=workdir)
    assert (workdir / "data/raw/train.csv").read_bytes() == small_csvs[0].read_bytes()
    run_stage("prepare", "--raw", "data/raw", "--train", "p/train.npz", "--dev", "p/dev.npz",
              "--test", "p/test.npz", cwd=workdir)


@pytest.mark.parametrize("url", ["ftp://example.org/train.csv", "data:,1,2,3", "train.csv",
                                 "HTTP://example.org/train.csv"])
def test_open_url_takes_only_http_https_and_file_urls(url):
    """params.py refuses other schemes first; urllib would open data: and ftp: URLs itself."""
    with pytest.raises(DownloadError, match="only http://, https:// and file:// URLs are "
                       "supported$"):
        download_module.open_url(url)
