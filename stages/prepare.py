"""DVC stage: validate the CSVs, split off dev (and test if needed), normalize
(params: prepare)."""

from pathlib import Path

from mnist_mlp.cli import run, stage_parser
from mnist_mlp.params import load_params
from mnist_mlp.prepare import prepare
from mnist_mlp.splits import save_split


def main(args):
    params = load_params(args.params).prepare
    raw = Path(args.raw)
    test_csv = raw / "test.csv"
    splits = prepare(params, raw / "train.csv", test_csv if test_csv.exists() else None)
    for name, path in (("train", args.train), ("dev", args.dev), ("test", args.test)):
        save_split(path, splits[name])
        rows = len(splits[name].y)
        print(f"wrote {path}: {rows} row{'s' * (rows != 1)}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--raw", required=True, help="directory with train.csv [and test.csv]")
    for split in ("train", "dev", "test"):
        parser.add_argument(f"--{split}", required=True, help=f"output .npz for the {split} split")
    run(main, parser)
