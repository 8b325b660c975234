"""DVC stage: score the model on the test and dev splits (params: evaluate)."""

from mnist_mlp.fileio import write_json, write_text
from mnist_mlp.cli import run, stage_parser
from mnist_mlp.metrics import classification_report, evaluation_metrics, predictions_csv
from mnist_mlp.nn import load_model
from mnist_mlp.params import load_params
from mnist_mlp.splits import load_split


def main(args):
    params = load_params(args.params).evaluate
    model, _ = load_model(args.model)
    test, dev = load_split(args.test), load_split(args.dev)
    test_probabilities = model.predict_proba(test.x, params.batch_size)
    reports = {"test": classification_report(test.y, test_probabilities),
               "dev": classification_report(dev.y, model.predict_proba(dev.x, params.batch_size))}
    metrics = evaluation_metrics(reports)
    write_json(args.metrics, metrics)
    write_text(args.predictions, predictions_csv(test.y, test_probabilities))
    print(f"test accuracy {metrics['test']['accuracy']:.4f}, dev accuracy "
          f"{metrics['dev']['accuracy']:.4f}; wrote {args.metrics}")


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for name in ("model", "test", "dev"):
        parser.add_argument(f"--{name}", required=True, help=f"input .npz: {name}")
    parser.add_argument("--metrics", required=True, help="output metrics JSON")
    parser.add_argument("--predictions", required=True, help="output test predictions CSV")
    run(main, parser)
