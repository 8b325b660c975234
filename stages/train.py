"""DVC stage: train the NumPy MLP (params: model, train, augment)."""

import sys

from mnist_mlp.fileio import save_npz, write_json, write_text
from mnist_mlp.cli import run, stage_parser
from mnist_mlp.nn import model_arrays
from mnist_mlp.params import load_params
from mnist_mlp.splits import load_split, load_targets
from mnist_mlp.training import train


def main(args):
    params = load_params(args.params)
    train_split, dev_split = load_split(args.train), load_split(args.dev)
    result = train(params.model, params.train,
                   train_split, load_targets(args.train_targets, len(train_split.y)),
                   dev_split, load_targets(args.dev_targets, len(dev_split.y)),
                   augment=params.augment,
                   progress="bar" if sys.stderr.isatty() or args.progress else "lines")
    info = {"model": params.model.model_dump(), "train": params.train.model_dump(),
            "augment": params.augment.model_dump(), "chosen_epoch": result.chosen_epoch,
            "blas_threads": result.blas_threads,
            "normalization": train_split.normalization.to_dict()}
    save_npz(args.model, model_arrays(result.model, info))
    chosen = result.metrics()
    write_text(args.history, result.history_csv())
    write_json(args.metrics, chosen)
    pool = ", run in numba's thread pool" if result.shared_pool else ""
    epochs = f"{chosen['epochs']} epoch{'s' * (chosen['epochs'] != 1)}"
    print(f"trained {epochs} in {result.seconds:.1f} s "
          f"(BLAS threads: {result.blas_threads or 'default'}{pool}); epoch "
          f"{chosen['chosen_epoch']} kept, dev accuracy {chosen['dev_accuracy']:.4f}; "
          f"wrote {args.model}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for name in ("train", "train-targets", "dev", "dev-targets"):
        parser.add_argument(f"--{name}", required=True, help=f"input .npz: {name}")
    parser.add_argument("--model", required=True, help="output model .npz")
    parser.add_argument("--history", required=True, help="output per-epoch history CSV")
    parser.add_argument("--metrics", required=True, help="output metrics JSON of the kept epoch")
    parser.add_argument("--progress", action="store_true", help="progress bar even without a TTY")
    run(main, parser)
