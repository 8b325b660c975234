"""DVC stage: one-hot (optionally label-smoothed) float32 targets per split (params: onehot)."""

from mnist_mlp.cli import run, stage_parser
from mnist_mlp.errors import UserError
from mnist_mlp.params import load_params
from mnist_mlp.splits import load_labels, one_hot, save_targets


def main(args):
    params = load_params(args.params).onehot
    if len(args.splits) != len(args.out):
        raise UserError("onehot: give as many --out files as --splits")
    for split_path, out_path in zip(args.splits, args.out):
        targets = one_hot(load_labels(split_path), params.label_smoothing)
        save_targets(out_path, targets)
        print(f"wrote {out_path}: {targets.shape}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--splits", nargs="+", required=True, help="prepared split .npz files")
    parser.add_argument("--out", nargs="+", required=True, help="one output .npz per split")
    run(main, parser)
