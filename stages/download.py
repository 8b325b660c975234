"""DVC stage: fetch the raw MNIST CSVs (params: download)."""

from mnist_mlp.cli import run, stage_parser
from mnist_mlp.download import download
from mnist_mlp.params import load_params


def main(args):
    params = load_params(args.params).download
    for path in download(params, args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--out", required=True, help="directory for train.csv (and test.csv)")
    run(main, parser)
