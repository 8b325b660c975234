"""Image files -> grayscale arrays in [0, 1], ready for ``paper.digit_ink``: whatever Pillow
reads, and through pillow-heif the HEIC/HEIF photos iPhones save; turned upright by their EXIF
orientation, transparency as white paper (black behind light strokes on a transparent
canvas), 16- and 32-bit images scaled from their range, and large photos read at a half, a
quarter or an eighth of their size (``reduction_factor``)."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import UserError

try:  # HEIC/HEIF, what iPhones save photos as, through libheif (~40 ms to import)
    from pillow_heif import register_heif_opener
except ImportError:  # a broken install: such photos then read as unreadable images
    pass
else:
    register_heif_opener()


class ImageError(UserError):
    """An input image that cannot be read or holds no digit."""


#: Pillow's modes for 16-bit grayscale. ``convert("L")`` clips their values at 255 instead of
#: scaling them, so a 16-bit scan would read as all white: ``wide_gray`` scales them.
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def load_image(path: str | Path, data: bytes | None = None) -> np.ndarray:
    """Any image Pillow reads -> float grayscale (h, w) in [0, 1]; transparency becomes white
    paper, or black behind light strokes (``paper_behind``). The image is the file at
    ``path``, or ``data`` (an image piped in) named ``path`` in messages."""
    try:
        # Pillow warns above MAX_IMAGE_PIXELS (~89 Mpx) and refuses twice that, as a guard
        # against decompression bombs: both are one clear error here.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path if data is None else io.BytesIO(data)) as img:
                decode_reduced(img)
                img.load()
                # A phone stores a photo as its sensor saw it, with an EXIF tag saying how to
                # turn it for display: turned that way, the digit stands upright. In place: an
                # image without the tag is then not copied.
                ImageOps.exif_transpose(img, in_place=True)
                gray = image_gray(img, path)
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path}: too large an image ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({exc})") from None
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ImageError(f"{path}: empty image")
    return gray


def is_image(data: bytes) -> bool:
    """Whether ``data`` is in a format Pillow knows (a file's name would say; piped-in data
    does not). Its header is read, not its pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # load_image reads it again, and warns then
            Image.open(io.BytesIO(data)).close()
    except UnidentifiedImageError:
        return False
    except (OSError, ValueError, Image.DecompressionBombError):
        pass  # a format's plugin took it, then found it broken or too large: load_image says
    return True


#: The longer side down to which large images are read: one with a longer side of at least
#: twice this is read at half, a quarter or an eighth of its size, staying at least this large
#: (``reduction_factor``). A digit needs far fewer pixels than a phone's camera takes, and
#: every pass after the decode grows with the pixel count (docs/predict.md).
DECODE_SIDE = 3000


def reduction_factor(size: tuple[int, int]) -> int:
    """1, 2, 4 or 8: the largest that keeps the longer side of ``size`` at ``DECODE_SIDE``
    or more, divided as Pillow divides (rounding up)."""
    factor = 1
    while factor < 8 and math.ceil(max(size) / (2 * factor)) >= DECODE_SIDE:
        factor *= 2
    return factor


def decode_reduced(img: Image.Image) -> None:
    """Have a JPEG decode at ``reduction_factor``'s scale (Pillow's draft mode, in which the
    JPEG decoder scales while it decodes: less time and memory than reducing afterwards).
    Pillow's other formats ignore a draft; an MPO (a camera's multi-picture JPEG) takes it."""
    factor = reduction_factor(img.size)
    if factor > 1:
        img.draft(img.mode, (math.ceil(img.size[0] / factor), math.ceil(img.size[1] / factor)))


def reduced(img: Image.Image) -> Image.Image:
    """``img`` averaged over square boxes ``reduction_factor`` pixels a side (Pillow's
    ``reduce``), for what was decoded whole: PNG, HEIC and the others."""
    factor = reduction_factor(img.size)
    return img.reduce(factor) if factor > 1 else img


def image_gray(img: Image.Image, path: str | Path) -> np.ndarray:
    """A loaded Pillow image in any mode -> float grayscale in [0, 1] (see ``load_image``)."""
    if img.mode in SIXTEEN_BIT_MODES + ("I", "F"):
        values = np.asarray(img, dtype=np.float32)
        gray = wide_gray(values, img.mode, path)
        # A 16-bit PNG's tRNS names one transparent gray value: white paper, as below.
        if isinstance(img.info.get("transparency"), (int, float)):
            gray[values == img.info["transparency"]] = 1
        return np.array(reduced(Image.fromarray(gray)))  # a copy: Pillow's arrays are read-only
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, paper_behind(rgba))
        img = Image.alpha_composite(canvas, rgba)
    return np.asarray(reduced(img.convert("L")), dtype=np.float32) / 255


def paper_behind(rgba: Image.Image) -> tuple[int, int, int, int]:
    """The colour that transparent pixels read as: white paper, but black where the opaque
    pixels cover less than half the image and are light on the whole. Those are strokes on a
    transparent canvas, as a web page's drawing canvas exports them, and white strokes (MNIST's
    own, on a canvas styled dark) would vanish into white paper."""
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255
    opaque = float(alpha.sum())
    if opaque >= alpha.size / 2:
        return (255, 255, 255, 255)
    lightness = np.asarray(rgba.convert("L"), dtype=np.float32) / 255  # alpha ignored
    light_ink = float((lightness * alpha).sum()) > opaque / 2
    return (0, 0, 0, 255) if light_ink else (255, 255, 255, 255)


def wide_gray(values: np.ndarray, mode: str, path: str | Path) -> np.ndarray:
    """Pillow's 16- and 32-bit modes -> [0, 1], by the range their values lie in. Floats ("F")
    come in 0..1 or 0..255, integers (16-bit, or "I", as some Pillow versions open 16-bit PNGs)
    in 0..255 or 0..65535: an 8-bit drawing stored in 16 bits (Pillow's ``convert("I;16")``, a
    uint16 array of 8-bit values) keeps 0..255. An image within the smaller range would be
    black in the larger one, so it is taken as the smaller. ``convert("L")`` would read 0..1
    as black and clip 0..65535."""
    if not np.isfinite(values).all():
        raise ImageError(f"{path}: not a readable image (NaN or infinite pixel values)")
    small, large = (1, 255) if mode == "F" else (255, 65535)
    return np.clip(values / (small if values.max(initial=0) <= small else large), 0, 1)
