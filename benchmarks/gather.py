"""Training epochs with the batches gathered from the images' bytes (``batches.py``, the
default) and as float32 rows, side by side.

As pool.py (whose table this prints), for each config that the shared pool serves, with
``batches.FROM_BYTES`` switched: the median seconds per epoch each way, the median of the
pairs' ratios bytes / floats with their range, and whether each pair's weights came out with
the same bits (they must: the bytes decode to the floats' bits).

    .venv/bin/python benchmarks/gather.py [--epochs 3] [--repeats 3] [--only default]

Needs the prepared data (`make repro`).
"""

from __future__ import annotations

from pool import compare

from mnist_mlp import batches


def switch(on: bool) -> None:
    """Batches from the images' bytes (True) or their float32 rows."""
    batches.FROM_BYTES = on


if __name__ == "__main__":
    compare(__doc__.split("\n\n")[0], switch, ("bytes", "floats"))
