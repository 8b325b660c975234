"""The README's figures of the committed run are those of the committed reports, so a commit
of a new `dvc repro` run that leaves the README behind fails here; so does a `python -m
mnist_mlp` command, in the README or in the commands' help, that the parser no longer takes."""

import csv
import json
import re

from conftest import REPO

README = (REPO / "README.md").read_text()


def results_section() -> str:
    return README.split("## Results", 1)[1].split("\n## ", 1)[0]


def test_results_table_is_the_committed_evaluation():
    metrics = json.loads((REPO / "reports/eval/metrics.json").read_text())
    rows = {}
    for line in results_section().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in ("test", "dev"):
            rows[cells[0]] = [float(c) for c in cells[1:]]
    assert rows.keys() == {"test", "dev"}
    for split, (accuracy, loss, macro_f1) in rows.items():
        expected = metrics[split]
        assert (accuracy, loss, macro_f1) == tuple(
            round(expected[k], 4) for k in ("accuracy", "loss", "macro_f1")), split


def test_training_time_is_the_committed_history():
    with open(REPO / "reports/train/history.csv", newline="") as f:
        seconds = sum(float(row["seconds"]) for row in csv.DictReader(f))
    stated = re.search(r"([\d.]+)\s+s\s+of\s+training\s+\(the\s+sum\s+of\s+the\s+"
                       r"`seconds`\s+column", results_section())
    assert stated is not None, "the Results section no longer states the training time"
    assert stated.group(1) == f"{seconds:.1f}"


def cli_command_lines() -> list[str]:
    """Every `python -m mnist_mlp …` command the README and the commands' own help show."""
    from mnist_mlp import __main__ as cli

    texts = [README, cli.PREDICT_EXAMPLES, cli.COMPARE_EXAMPLES]
    return [match.group(1) for text in texts
            for match in re.finditer(r"(python -m mnist_mlp [^`\n]*)", text)]


def test_every_shown_cli_command_is_accepted_by_the_parser():
    import shlex

    from mnist_mlp.__main__ import build_parser

    lines = cli_command_lines()
    assert len(lines) >= 10
    parser = build_parser()
    for line in lines:
        words = shlex.split(line, comments=True)
        words = words[:words.index(">")] if ">" in words else words
        words = words[:words.index("|")] if "|" in words else words
        args = parser.parse_args(words[3:])
        assert args.func.__name__ == f"{args.command}_command", line
