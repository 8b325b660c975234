"""Images drawn for the tests of predict's preparation (images, paper, digits) and of predict:
digits drawn with Pillow, and a stand-in for the model's reading."""

import numpy as np
from PIL import Image, ImageDraw


def drawn_one(size=(90, 140), ink=0, paper=255):
    img = Image.new("L", size, paper)
    ImageDraw.Draw(img).line([(50, 20), (40, 120)], fill=ink, width=12)
    return img


def drawn_seven():
    img = Image.new("L", (160, 200), 255)
    ImageDraw.Draw(img).line([(40, 40), (120, 40), (70, 170)], fill=20, width=14)
    return img


def ink_box(pixels):
    inked = pixels > 30
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


#: Strokes of a one, a seven and a zero in a box 100 wide and 160 tall (ImageDraw's line, and
#: the zero's ellipse).
DRAWN = {1: [(55, 0), (45, 160)], 7: [(0, 5), (100, 5), (40, 160)], 0: None}


def drawn_number(digits, gap=40, paper=(80, 80)):
    """Digits from DRAWN side by side, ``gap`` pixels apart, dark on white, ``paper`` pixels of
    margin (rows, columns)."""
    img = Image.new("L", (2 * paper[1] + len(digits) * 100 + (len(digits) - 1) * gap,
                          2 * paper[0] + 160), 255)
    draw = ImageDraw.Draw(img)
    for k, digit in enumerate(digits):
        left, top = paper[1] + k * (100 + gap), paper[0]
        if DRAWN[digit] is None:
            draw.ellipse([left + 10, top, left + 90, top + 160], outline=0, width=16)
        else:
            draw.line([(left + x, top + y) for x, y in DRAWN[digit]], fill=0, width=16,
                      joint="curve")
    return np.asarray(img, np.float32) / 255


def reader(digit=0.9, whole=0.3):
    """A stand-in for the model's reading, by shape alone: an image whose ink is at most 0.7
    times as wide as tall (one of drawn_number's digits) reads ``digit``, a wider one (digits
    squeezed into one box) ``whole``. Counts the images it reads."""
    def read(fields):
        read.seen += len(fields)
        boxes = [ink_box(f.reshape(28, 28)) for f in fields]
        narrow = [right - left + 1 <= 0.7 * (bottom - top + 1)
                  for top, bottom, left, right in boxes]
        p = np.where(narrow, digit, whole)
        return np.column_stack([p, *[(1 - p) / 9] * 9])
    read.seen = 0
    return read
