"""Command line: ``python -m mnist_mlp predict …`` and ``python -m mnist_mlp compare …``."""

from __future__ import annotations

import argparse
import csv
import json
import sys

from .cli import DEBUG_ENV, debug_requested, run
from .errors import UserError


def predict_command(args: argparse.Namespace) -> None:
    from .predict import STDIN, labelled_accuracy, predict_files

    if args.kaggle and (len(args.inputs) != 1 or not (
            args.inputs[0] == STDIN or args.inputs[0].lower().endswith(".csv"))):
        raise UserError(f"--kaggle takes one CSV file, such as Kaggle's test.csv (or - for "
                        f"one piped in); got {' '.join(args.inputs)}")
    predictions, failures = predict_files(args.inputs, args.model, one_digit=args.one_digit,
                                          folder_labels=args.folder_labels,
                                          only_csv=args.kaggle)
    if args.kaggle:
        # Kaggle scores "ImageId,Label" with ImageId counting test.csv's rows from 1; a file
        # that failed to read gives no rows rather than a submission of the wrong length.
        writer = csv.writer(sys.stdout, lineterminator="\n")
        if not failures:
            writer.writerow(["ImageId", "Label"])
            writer.writerows([i, p.digit] for i, p in enumerate(predictions, start=1))
    elif args.json:
        json.dump([p.to_dict() for p in predictions], sys.stdout, indent=2)
        print()
    elif args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["input", "digit", "probability", "label"])
        writer.writerows([p.source, p.digit, f"{p.probabilities[p.digit]:.6f}",
                          "" if p.label is None else p.label] for p in predictions)
    else:
        for i, p in enumerate(predictions):
            print(p)
            if p.of_number is not None and p.of_number[1] == p.of_number[2]:
                image, _, count = p.of_number
                print(f"{image}: {''.join(str(q.digit) for q in predictions[i + 1 - count:i + 1])}")
        correct, labelled = labelled_accuracy(predictions)
        if labelled:
            print(f"accuracy on the {labelled} labelled digits: {correct / labelled:.2%} "
                  f"({labelled - correct} wrong)")
    if failures:
        sys.stdout.flush()
        if debug_requested(args):
            raise failures[0]
        for exc in failures:
            print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


def compare_command(args: argparse.Namespace) -> None:
    from .compare import write_comparison

    path = write_comparison(args.revisions, args.output)
    print(f"wrote {path}")


PREDICT_DESCRIPTION = """\
Read each image as MNIST's digits were made (grayscale, the paper's shading
and ruled lines taken out, cropped to the digit, centred by its mass in
28x28) and print the model's digit and its probability; an image of a number
gives a line per digit and the number. CSV rows of 784 pixels are read as
MNIST images; a label before them is scored."""

PREDICT_EXAMPLES = """\
examples:
  python -m mnist_mlp predict my_digit.png number.jpg scans/
  python -m mnist_mlp predict data/raw/test.csv --csv > predictions.csv
  python -m mnist_mlp predict mnist_png/testing --folder-labels | tail -1
  python -m mnist_mlp predict kaggle/test.csv --kaggle > submission.csv
  unzip -p digit-recognizer.zip test.csv | python -m mnist_mlp predict - --kaggle > sub.csv
  xclip -selection clipboard -t image/png -o | python -m mnist_mlp predict -"""

COMPARE_DESCRIPTION = """\
Write one HTML page that needs no network to view: DVC's plots of the
revisions (rendered to SVG), their metrics and params side by side, and each
one's figures."""

COMPARE_EXAMPLES = """\
examples:
  python -m mnist_mlp compare                          # HEAD against the workspace
  python -m mnist_mlp compare HEAD wider -o wider.html # an experiment against HEAD"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_mlp",
        description="Use the pipeline's trained model on your own images, or compare runs.")
    parser.add_argument("--debug", action="store_true",
                        help=f"show tracebacks for user errors (or set {DEBUG_ENV}=1)")
    commands = parser.add_subparsers(dest="command", required=True)

    predict = commands.add_parser(
        "predict", help="predict digits in images or CSV rows", description=PREDICT_DESCRIPTION,
        epilog=PREDICT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    predict.add_argument("inputs", nargs="+", help="PNG/JPEG/HEIC/... images, CSV files of 784 "
                         "pixels (optionally after a label, then scored) per row, "
                         "directories of them (their subdirectories searched too, links "
                         "followed), or - for an image or CSV piped in")
    predict.add_argument("--model", default="data/model/model.npz", help="default: %(default)s")
    predict.add_argument("--one-digit", action="store_true", help="read each image as one "
                         "digit, never as a number (MNIST-style images, drawings of a digit)")
    predict.add_argument("--folder-labels", action="store_true", help="label each image by "
                         "its folder, named 0 to 9 (a folder per class, as mnist_png's "
                         "testing/7/...), and score it; each image is read as one digit")
    output = predict.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="machine-readable output, with "
                        "the top three digits of each input (of each digit of a number)")
    output.add_argument("--csv", action="store_true", help="one CSV row per input (per digit "
                        "of a number): input, digit, its probability, label (empty when "
                        "unknown)")
    output.add_argument("--kaggle", action="store_true", help="a Kaggle digit-recognizer "
                        "submission for the rows of one CSV file: ImageId (from 1),Label")
    predict.set_defaults(func=predict_command)

    compare = commands.add_parser(
        "compare", help="one offline HTML page comparing revisions and experiments: plots, "
        "metrics, params, figures", description=COMPARE_DESCRIPTION, epilog=COMPARE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("revisions", nargs="*", help="git revisions or experiment names "
                         "(default: HEAD and the workspace)")
    compare.add_argument("-o", "--output", default="comparison.html", help="default: %(default)s")
    compare.set_defaults(func=compare_command)
    return parser


def main(argv: list[str] | None = None) -> None:
    run(lambda args: args.func(args), build_parser(), argv)


if __name__ == "__main__":
    main()
