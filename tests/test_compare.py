"""The comparison page's tables, in process (tests/test_workflows.py renders whole pages)."""

from mnist_mlp.compare import flatten, table


def test_flatten_joins_nested_keys_with_dots_and_leaves_out_lists():
    tree = {"test": {"accuracy": 0.98, "loss": 0.07}, "confusion": [[1, 0], [0, 1]],
            "per_class": {"3": {"f1": 0.97}}, "epochs": 30}
    assert flatten(tree) == {"test.accuracy": 0.98, "test.loss": 0.07, "per_class.3.f1": 0.97,
                             "epochs": 30}
    assert flatten({"a": {"b": 1}}, "eval.json:") == {"eval.json:a.b": 1}


def rows(page):
    """Each table row's cells as text, header row first."""
    body = page.split("<table>", 1)[1].split("</table>", 1)[0]
    return [[cell.split(">", 1)[1] for cell in row.replace("</th>", "</td>").split("</td>")[:-1]]
            for row in body.removeprefix("<tr>").removesuffix("</tr>").split("</tr><tr>")]


def test_table_puts_each_revisions_value_under_it_in_key_order():
    values = {"HEAD": {"test.loss": 0.0712345678, "test.accuracy": 0.98, "epochs": 30},
              "exp-1": {"test.accuracy": 0.96123456, "epochs": 30, "train.seed": 1}}
    page = table("Metrics", values, ["HEAD", "exp-1"], only_changed=False)
    assert page.startswith("<h2>Metrics</h2>")
    assert rows(page) == [["", "HEAD", "exp-1"],
                          ["epochs", "30", "30"],
                          ["test.accuracy", "0.98", "0.961235"],
                          ["test.loss", "0.0712346", "–"],
                          ["train.seed", "–", "1"]]


def test_table_of_changes_keeps_only_rows_that_differ():
    values = {"a": {"lr": 0.001, "hidden": [512, 256], "seed": 0},
              "b": {"lr": 0.003, "hidden": [512, 256], "seed": 0}}
    page = table("Params", values, ["a", "b"], only_changed=True)
    assert page == ("<h2>Params (only those that differ)</h2><table>"
                    "<tr><th></th><th>a</th><th>b</th></tr>"
                    "<tr><th>lr</th><td>0.001</td><td>0.003</td></tr></table>")
    same = table("Params", {"a": {"seed": 0}, "b": {"seed": 0}}, ["a", "b"], only_changed=True)
    assert rows(same) == [["", "a", "b"], ["no differences"]]
    assert "<td colspan=3>no differences</td>" in same


def test_table_escapes_names_and_values():
    values = {"<b>": {"k&": "<i>"}}
    page = table("A<B", values, ["<b>"], only_changed=False)
    assert "<h2>A&lt;B</h2>" in page
    assert rows(page) == [["", "&lt;b&gt;"], ["k&amp;", "&lt;i&gt;"]]
