"""images: image files -> grayscale arrays (transparency, 16-bit and float modes, EXIF, large
photos reduced, HEIC, unreadable files)."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_mlp.digits import to_mnist
from mnist_mlp.images import DECODE_SIDE, ImageError, is_image, load_image, reduction_factor

from drawings import drawn_one, drawn_seven, ink_box


def test_transparent_png_and_rgb(tmp_path):
    rgba = Image.new("RGBA", (60, 60), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse([15, 10, 45, 50], outline=(0, 0, 0, 255), width=6)
    rgba.save(tmp_path / "zero.png")
    gray = load_image(tmp_path / "zero.png")
    assert gray[0, 0] == 1.0  # transparent background reads as white paper
    drawn_one().convert("RGB").save(tmp_path / "one.jpg", quality=95)
    assert to_mnist(load_image(tmp_path / "one.jpg")).max() > 200


@pytest.mark.parametrize("mode", ["LA", "P"])
def test_transparency_of_gray_and_palette_images_is_white_paper(tmp_path, mode):
    """Black ink on black paper that is transparent, as gray with alpha (LA) or as a palette
    with a transparent entry (P, a PNG's tRNS): a black drawing on white, as from RGBA."""
    ink = np.asarray(drawn_one(ink=0, paper=255)) == 0
    black = Image.new("L", (ink.shape[1], ink.shape[0]), 0)
    if mode == "LA":
        image = Image.merge("LA", [black, Image.fromarray(ink.astype(np.uint8) * 255)])
    else:
        image = Image.fromarray(ink.astype(np.uint8), "P")
        image.putpalette([0, 0, 0] * 2)
    image.save(tmp_path / "one.png", **({"transparency": 0} if mode == "P" else {}))
    with Image.open(tmp_path / "one.png") as img:
        assert img.mode == mode
    np.testing.assert_array_equal(load_image(tmp_path / "one.png"), np.where(ink, 0.0, 1.0))


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_light_strokes_on_a_transparent_canvas_read_on_dark_paper(tmp_path, mode):
    """White strokes on a transparent canvas, as a web page's drawing canvas exports them (a
    canvas styled dark, with its strokes white as MNIST's), read as "no digit found": white
    on white paper. Where the opaque pixels are a minority, they are the ink, and the paper
    takes the shade that sets them off; antialiased edges blend with it."""
    ink = Image.new("L", (90, 140), 0)
    ImageDraw.Draw(ink).line([(50, 20), (40, 120)], fill=255, width=12)
    ink = ink.resize((45, 70), Image.Resampling.BILINEAR)  # partly transparent edges
    alpha = np.asarray(ink, np.float32) / 255
    for shade, name in ((255, "white"), (0, "black")):
        Image.merge(mode, [Image.new("L", ink.size, shade)] * (len(mode) - 1) + [ink]).save(
            tmp_path / f"{name}.png")
    np.testing.assert_allclose(load_image(tmp_path / "white.png"), alpha, atol=1 / 255)
    np.testing.assert_allclose(load_image(tmp_path / "black.png"), 1 - alpha, atol=1 / 255)
    assert to_mnist(load_image(tmp_path / "white.png")).max() > 200


@pytest.mark.parametrize("colour, paper", [((0, 0, 255), 1.0), ((110, 110, 110), 1.0),
                                           ((255, 255, 0), 0.0), ((190, 190, 190), 0.0)])
def test_coloured_strokes_on_a_transparent_canvas_read_on_the_paper_that_sets_them_off(
        tmp_path, colour, paper):
    """A blue or dark gray pen's strokes on white paper; a yellow or light gray one's on black."""
    canvas = Image.new("RGBA", (90, 140), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).line([(50, 20), (40, 120)], fill=(*colour, 255), width=12)
    canvas.save(tmp_path / "one.png")
    gray = load_image(tmp_path / "one.png")
    assert gray[0, 0] == paper
    assert to_mnist(gray).max() > 200


def test_an_opaque_page_with_transparent_margins_keeps_white_margins(tmp_path):
    """Light opaque pixels that are most of the image are paper, not ink: the margins around
    it read as white paper, as before."""
    page = drawn_one(size=(90, 140)).convert("RGBA")
    canvas = Image.new("RGBA", (110, 160), (0, 0, 0, 0))
    canvas.paste(page, (10, 10))
    canvas.save(tmp_path / "page.png")
    gray = load_image(tmp_path / "page.png")
    assert gray[0, 0] == 1 and gray[:10].min() == 1
    assert to_mnist(gray).max() > 200


@pytest.mark.parametrize("suffix, dtype, mode, scale", [("png", np.uint16, "I;16", 257),
                                                        ("tif", np.uint16, "I;16", 257),
                                                        ("png", np.uint16, "I;16", 1),
                                                        ("tif", np.int32, "I", 257),
                                                        ("tif", np.int32, "I", 1)])
def test_wide_integer_grayscale_reads_as_its_eight_bit_drawing(tmp_path, suffix, dtype, mode,
                                                               scale):
    """Pillow's own conversion clips 16-bit values at 255: the whole scan would be white. An
    8-bit drawing stored in 16 bits unscaled (scale 1) read as a black page of 0..65535 and
    held no digit, and as its drawing when Pillow opened the same PNG as "I"."""
    eight_bit = drawn_one(ink=30, paper=200)  # both above 255 once scaled to 16 bits
    sixteen_bit = Image.fromarray(np.asarray(eight_bit).astype(dtype) * scale)
    sixteen_bit.save(tmp_path / f"one16.{suffix}")
    with Image.open(tmp_path / f"one16.{suffix}") as img:
        assert img.mode == mode
    eight_bit.save(tmp_path / "one8.png")
    gray = load_image(tmp_path / f"one16.{suffix}")
    np.testing.assert_array_equal(gray, load_image(tmp_path / "one8.png"))
    assert to_mnist(gray).max() > 200


def test_sixteen_bit_transparency_is_white_paper_as_in_eight_bits(tmp_path):
    """The paper's stored gray (4) is darker than paper: only its tRNS entry makes it paper."""
    eight_bit = drawn_one(ink=0, paper=4)
    eight_bit.save(tmp_path / "one8.png", transparency=4)
    Image.fromarray(np.asarray(eight_bit).astype(np.uint16) * 257).save(
        tmp_path / "one16.png", transparency=4 * 257)
    gray = load_image(tmp_path / "one16.png")
    np.testing.assert_array_equal(gray, load_image(tmp_path / "one8.png"))
    assert gray[0, 0] == 1 and to_mnist(gray).max() > 200


@pytest.mark.parametrize("scale", [1 / 255, 1])
def test_float_images_in_either_range_read_as_their_eight_bit_drawing(tmp_path, scale):
    eight_bit = drawn_one(ink=30, paper=200)
    Image.fromarray(np.asarray(eight_bit, np.float32) * scale).save(tmp_path / "one.tif")
    expected = np.asarray(eight_bit, np.float32) / 255
    np.testing.assert_allclose(load_image(tmp_path / "one.tif"), expected, rtol=1e-6)


def test_float_image_with_nan_is_refused(tmp_path):
    values = np.zeros((30, 30), np.float32)
    values[5:25, 10:14] = np.nan
    Image.fromarray(values).save(tmp_path / "nan.tif")
    with pytest.raises(ImageError, match=r"nan.tif: not a readable image \(NaN or infinite "
                                         r"pixel values\)"):
        load_image(tmp_path / "nan.tif")


@pytest.mark.parametrize("mode, white", [("F", 1.0), ("I", 255), ("I;16", 255)])
def test_a_wide_image_white_at_the_smaller_ranges_top_is_read_in_it(tmp_path, mode, white):
    """White paper at exactly 1.0 (float) or 255 (16- or 32-bit integer) is white, not a
    near-black page of the larger range (0..255, 0..65535)."""
    eight_bit = np.asarray(drawn_one(ink=30, paper=255))
    dtype = {"F": np.float32, "I": np.int32, "I;16": np.uint16}[mode]
    Image.fromarray((eight_bit * (white / 255)).astype(dtype)).save(tmp_path / "one.tif")
    with Image.open(tmp_path / "one.tif") as img:
        assert img.mode == mode
    np.testing.assert_allclose(load_image(tmp_path / "one.tif"), eight_bit / 255, rtol=1e-6)


@pytest.mark.parametrize("side", [40, 50])  # Pillow's warning (> 1000 here), its refusal (> 2000)
def test_images_past_pillows_bomb_limits_are_refused(tmp_path, monkeypatch, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    drawn_one(size=(side, side)).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match=f"big.png: too large an image .*{side * side} pixels"):
        load_image(tmp_path / "big.png")
    piped = (tmp_path / "big.png").read_bytes()
    assert is_image(piped)  # an image, refused by load_image as its file is
    with pytest.raises(ImageError, match=f"^<stdin>: too large an image .*{side * side} pixels"):
        load_image("<stdin>", piped)


@pytest.mark.parametrize("mode", ["L", "I;16"])
def test_a_photo_is_turned_upright_by_its_exif_orientation(tmp_path, mode):
    upright = drawn_one()
    if mode == "I;16":
        upright = Image.fromarray(np.asarray(upright).astype(np.uint16) * 257)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees anticlockwise: turn clockwise to display
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "turned.png", exif=exif)
    upright.save(tmp_path / "upright.png")
    np.testing.assert_array_equal(load_image(tmp_path / "turned.png"),
                                  load_image(tmp_path / "upright.png"))


def test_a_large_jpeg_is_decoded_reduced_and_reads_as_at_full_size(tmp_path, monkeypatch):
    """A phone's photo is 12-48 megapixels: a JPEG twice ``DECODE_SIDE`` or more is decoded at
    half size or less (Pillow's draft mode), and its digit's field is the full decode's."""
    photo = tmp_path / "seven.jpg"
    drawn_seven().resize((4800, 6000), Image.Resampling.BILINEAR).save(photo, quality=90)
    reduced = load_image(photo)
    assert reduced.shape == (3000, 2400)  # half: a quarter would be below 3000 on the long side
    monkeypatch.setattr("mnist_mlp.images.DECODE_SIDE", 10_000)
    full = load_image(photo)
    assert full.shape == (6000, 4800)
    got, expected = (to_mnist(gray).astype(int).reshape(28, 28) for gray in (reduced, full))
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 2


@pytest.mark.parametrize("fmt", ["MPO", "PNG", "16-bit PNG"])
def test_large_images_read_reduced_jpegs_in_the_decoder_others_after(tmp_path, monkeypatch, fmt):
    """MPO, the multi-picture JPEG some cameras save, is a JPEG to Pillow's draft mode; a PNG
    (or HEIC, ...) is decoded whole and then reduced, in 8 or 16 bits, and reads as the full
    image does."""
    path = tmp_path / f"seven.{fmt.split()[-1].lower()}"
    seven = drawn_seven().resize((4800, 6000), Image.Resampling.BILINEAR)
    if fmt == "16-bit PNG":
        seven = Image.fromarray(np.asarray(seven).astype(np.uint16) * 257)
    seven.save(path, format=fmt.split()[-1], **({"save_all": True, "append_images": [seven]}
                                                if fmt == "MPO" else {}))
    gray = load_image(path)
    assert gray.shape == (3000, 2400) and gray.dtype == np.float32 and gray.flags.writeable
    # Only the JPEG decoder reduces now.
    monkeypatch.setattr("mnist_mlp.images.reduced", lambda img: img)
    assert load_image(path).shape == ((3000, 2400) if fmt == "MPO" else (6000, 4800))
    monkeypatch.setattr("mnist_mlp.images.DECODE_SIDE", 10_000)
    got, expected = (to_mnist(image).astype(int).reshape(28, 28)
                     for image in (gray, load_image(path)))
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 2


@pytest.mark.parametrize("side, factor", [(100, 1), (5998, 1), (5999, 2), (6000, 2),
                                          (11_996, 2), (11_997, 4), (23_992, 4), (23_993, 8),
                                          (100_000, 8)])
def test_the_reduction_keeps_the_longer_side_at_decode_side_or_more(side, factor):
    assert reduction_factor((side, 10)) == reduction_factor((10, side)) == factor
    assert -(-side // factor) >= DECODE_SIDE or factor == 1


def test_a_heic_photo_reads_as_its_png(tmp_path):
    """iPhones save photos as HEIC, which Pillow reads only through pillow-heif."""
    seven = drawn_seven().convert("RGB")
    seven.save(tmp_path / "seven.png")
    seven.save(tmp_path / "seven.heic", quality=90)
    assert Image.open(tmp_path / "seven.heic").format == "HEIF"
    expected = to_mnist(load_image(tmp_path / "seven.png")).astype(int).reshape(28, 28)
    got = to_mnist(load_image(tmp_path / "seven.heic")).astype(int).reshape(28, 28)
    assert ink_box(got) == ink_box(expected)
    assert np.abs(got - expected).mean() < 4


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "PPM"])
def test_an_image_piped_in_reads_as_its_file(tmp_path, fmt):
    """``load_image(name, data)``: the image in the bytes, and ``name`` in its errors;
    ``is_image`` knows it by its header, before its pixels are read (a truncated file is one),
    and CSV text or other data as none."""
    path = tmp_path / f"seven.{fmt.lower()}"
    drawn_seven().save(path, fmt)
    data = path.read_bytes()
    assert is_image(data) and is_image(data[:len(data) // 2])
    np.testing.assert_array_equal(load_image("<stdin>", data), load_image(path))
    with pytest.raises(ImageError, match="^<stdin>: not a readable image"):
        load_image("<stdin>", data[:len(data) // 2])
    for not_image in (b"label,1x1\n7,0\n", b"", b"\x00\x01 garbage", data[1:]):
        assert not is_image(not_image)
        with pytest.raises(ImageError, match="^<stdin>: not a readable image"):
            load_image("<stdin>", not_image)
    # Headers a format's plugin takes, then finds broken (Pillow's OSError, ValueError).
    for broken in (b"BM" + bytes(20), b"P5\n" + b"\xff" * 5):
        assert is_image(broken)
        with pytest.raises(ImageError, match="^<stdin>: not a readable image"):
            load_image("<stdin>", broken)


def test_blank_and_unreadable_images(tmp_path):
    Image.new("L", (30, 30), 255).save(tmp_path / "blank.png")
    with pytest.raises(ImageError, match="no digit found"):
        to_mnist(load_image(tmp_path / "blank.png"), "blank.png")
    (tmp_path / "fake.png").write_text("not an image")
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(tmp_path / "fake.png")
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "missing.png")
