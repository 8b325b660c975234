"""What every command-line entry point shares: one-line errors and a clean Ctrl-C."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from .errors import UserError

DEBUG_ENV = "MNIST_MLP_DEBUG"


def stage_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", default="params.yaml",
                        help="params file (default: %(default)s)")
    parser.add_argument("--debug", action="store_true",
                        help=f"show tracebacks for user errors (or set {DEBUG_ENV}=1)")
    return parser


def debug_requested(args: argparse.Namespace) -> bool:
    return getattr(args, "debug", False) or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def run(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser,
        argv: list[str] | None = None) -> None:
    """Parse arguments and call ``main``; user errors and running out of memory become one
    line on stderr and exit 1."""
    args = parser.parse_args(argv)
    debug = debug_requested(args)
    try:
        main(args)
    except UserError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except MemoryError as exc:
        # Params can ask for it (model.hidden: [100000, 100000] is 37 GiB of weights); NumPy's
        # message names the size and shape that did not fit.
        if debug:
            raise
        # str(), not the exception: one without a message (Python's own) is still truthy.
        print(f"error: not enough memory: {str(exc) or 'an allocation failed'}",
              file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"interrupted: {parser.prog} stopped before finishing; no partial output was "
              "written", file=sys.stderr)
        sys.exit(130)
