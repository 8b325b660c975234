"""DVC stage: PNG figures of curves, confusions, digits and weights (params: plot)."""

from mnist_mlp.cli import run, stage_parser
from mnist_mlp.figures import plot_all, read_csv_columns, to_unit_range
from mnist_mlp.nn import load_model
from mnist_mlp.params import load_params
from mnist_mlp.splits import load_split


def main(args):
    params = load_params(args.params).plot
    history = read_csv_columns(args.history, ("epoch", "train_loss", "train_accuracy",
                                              "dev_loss", "dev_accuracy"))
    predictions = read_csv_columns(args.predictions, ("actual", "predicted", "confidence"))
    test = load_split(args.test)
    model, info = load_model(args.model)
    first_weights = model.layers[0].params["W"]
    paths = plot_all(history, predictions, to_unit_range(test.x, test.normalization),
                     first_weights, args.out, params.grid_digits, params.worst_digits,
                     params.weight_images, weights_per_class=not model.architecture.hidden,
                     chosen_epoch=info.get("chosen_epoch"))
    print(f"wrote {len(paths)} figures to {args.out}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for name in ("history", "predictions", "test", "model"):
        parser.add_argument(f"--{name}", required=True, help=f"input: {name}")
    parser.add_argument("--out", required=True, help="output directory for the PNGs")
    run(main, parser)
