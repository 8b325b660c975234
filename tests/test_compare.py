"""The comparison page in process, DVC's answers stubbed (tests/test_workflows.py renders whole
pages from real runs)."""

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_mlp import compare
from mnist_mlp.compare import flatten, table
from mnist_mlp.errors import UserError

from conftest import REPO


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


def sections(page):
    """The page's <h2> titles, in order."""
    return [part.split("</h2>", 1)[0] for part in page.split("<h2>")[1:]]


@pytest.mark.parametrize("wrapped", [True, False], ids=["data key", "older dvc"])
def test_page_puts_headline_and_per_class_metrics_params_and_each_plot_in_order(
        tmp_path, monkeypatch, wrapped):
    figure = tmp_path / "cm.png"
    figure.write_bytes(b"\x89PNG fake")
    metrics = {"HEAD": {"test.accuracy": 0.98, "per_class.3.f1": 0.97},
               "exp-1": {"test.accuracy": 0.96, "per_class.3.f1": 0.95}}
    params = {"HEAD": {"train.lr": 0.001, "train.seed": 0},
              "exp-1": {"train.lr": 0.003, "train.seed": 0}}
    revisions = ["HEAD", "exp-1"]
    monkeypatch.setattr(compare, "revision_values",
                        lambda asked: (metrics, params) if asked == revisions else None)
    plots = {"Loss": [{"type": "vega", "content": {"mark": "line"}, "revisions": ["HEAD"]}],
             "reports/<cm>.png": [{"type": "image", "url": str(figure), "revisions": [rev]}
                                  for rev in revisions]}
    asked = []

    def dvc_json(*args):
        asked.append((args, Path(args[4]).is_dir()))
        return {"data": plots} if wrapped else plots

    monkeypatch.setattr(compare, "dvc_json", dvc_json)
    monkeypatch.setattr(compare, "render_vega_lite", lambda spec: f"<svg>{spec['mark']}</svg>")
    page = compare.build_page(revisions)

    (args, images_dir_exists), = asked
    assert args[:4] == ("plots", "diff", "--json", "-o") and args[5:] == ("HEAD", "exp-1")
    assert images_dir_exists
    assert sections(page) == ["Metrics", "Per-class test metrics",
                              "Params (only those that differ)", "Loss", "reports/&lt;cm&gt;.png"]
    metrics_table, per_class_table = (page.split(f"<h2>{title}</h2>", 1)[1].split("</table>")[0]
                                      for title in ("Metrics", "Per-class test metrics"))
    assert "test.accuracy" in metrics_table and "per_class" not in metrics_table
    assert "per_class.3.f1" in per_class_table and "test.accuracy" not in per_class_table
    assert ("<details><summary>Per-class test metrics</summary><h2>Per-class test metrics</h2>"
            in page)
    assert page.count("</table></details><h2>Params") == 1
    assert "train.lr" in page and "train.seed" not in page
    assert "<h2>Loss</h2><div class=row><div class=plot><svg>line</svg></div></div>" in page
    data = base64.b64encode(b"\x89PNG fake").decode()
    assert ("<div class=row>" + "".join(
        f"<figure><img alt='reports/&lt;cm&gt;.png at {rev}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{rev}</figcaption></figure>" for rev in revisions) + "</div>") in page
    assert "<title>Comparison: HEAD, exp-1</title>" in page and "<script" not in page


def test_dvc_json_runs_this_pythons_dvc_and_reads_its_output(monkeypatch):
    calls = []

    def run(command, **kwargs):
        calls.append((command, kwargs))
        return subprocess.CompletedProcess(command, 0, '{"data": {}}', "")

    monkeypatch.setattr(compare.subprocess, "run", run)
    assert compare.dvc_json("plots", "diff", "--json") == {"data": {}}
    assert calls == [([sys.executable, "-m", "dvc", "plots", "diff", "--json"],
                      {"capture_output": True, "text": True})]


def test_a_failing_dvc_command_is_its_last_line_of_errors(monkeypatch):
    def failing(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "WARNING: x\nERROR: unknown rev\n")

    monkeypatch.setattr(compare.subprocess, "run", failing)
    with pytest.raises(UserError, match=r"^dvc plots diff --json failed: ERROR: unknown rev$"):
        compare.dvc_json("plots", "diff", "--json")
    monkeypatch.setattr(compare.subprocess, "run",
                        lambda command, **kwargs: subprocess.CompletedProcess(command, 2, "", ""))
    with pytest.raises(UserError, match=r"^dvc plots failed: no output$"):
        compare.dvc_json("plots")


def shown_by_dvc(results):
    """A stand-in for DVC's metrics.show/params.show: records each call's revs, answers with
    ``results(revs)``."""
    calls = []

    def show(revs, on_error):
        assert on_error == "return"
        calls.append(revs)
        return results(revs)
    return show, calls


def test_one_revision_merges_its_files_and_names_a_shared_key_by_file():
    show, calls = shown_by_dvc(lambda revs: {
        "workspace": {"error": OSError("the workspace's own trouble")},
        "v1": {"data": {"train.json": {"data": {"epochs": 3, "loss": 0.5}},
                        "eval.json": {"data": {"test": {"accuracy": 0.9}, "loss": 0.4}}}}})
    assert compare.one_revision(show, "v1") == {
        "epochs": 3, "train.json:loss": 0.5, "test": {"accuracy": 0.9}, "eval.json:loss": 0.4}
    assert calls == [["v1"]]


def test_the_workspace_is_read_alone():
    show, calls = shown_by_dvc(lambda revs: {"": {"data": {"m.json": {"data": {"acc": 1}}}}})
    assert compare.one_revision(show, compare.WORKSPACE) == {"acc": 1}
    assert calls == [None]


@pytest.mark.parametrize("result", [
    {"error": KeyError("bad rev")},
    {"data": {"a.json": {"data": {}}, "b.json": {"error": KeyError("bad rev")}}}],
    ids=["the revision", "one of its files"])
def test_one_revision_raises_its_own_error(result):
    show, _ = shown_by_dvc(lambda revs: {"v1": result})
    with pytest.raises(KeyError, match="bad rev"):
        compare.one_revision(show, "v1")


class FakeRepo:
    """dvc.repo.Repo with metrics and params shown by ``show`` (both the same)."""

    def __init__(self, show):
        self.metrics = self.params = type("Shown", (), {"show": staticmethod(show)})

    def __call__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("error, message", [
    (FileNotFoundError(2, "No such file", "reports/eval/metrics.json"),
     "cannot read revision 'v0': it has no reports/eval/metrics.json"),
    (FileNotFoundError(), "cannot read revision 'v0': it has no metrics or params file"),
    (ValueError("unknown revision v0"), "cannot read revision 'v0': unknown revision v0")])
def test_an_unreadable_revision_is_one_clear_error(monkeypatch, error, message):
    import dvc.repo

    show, _ = shown_by_dvc(lambda revs: {"v0": {"data": {"m.json": {"error": error}}}})
    monkeypatch.setattr(dvc.repo, "Repo", FakeRepo(show))
    with pytest.raises(UserError) as raised:
        compare.revision_values(["v0"])
    assert str(raised.value) == message


def test_revision_values_flattens_each_revisions_metrics_and_params(monkeypatch):
    import dvc.repo

    show, calls = shown_by_dvc(lambda revs: {(revs or [""])[0]: {"data": {"f.json": {"data": {
        "test": {"rev": str(revs)}, "hidden": [1, 2]}}}}})
    monkeypatch.setattr(dvc.repo, "Repo", FakeRepo(show))
    metrics, params = compare.revision_values(["HEAD", compare.WORKSPACE])
    assert metrics == params == {"HEAD": {"test.rev": "['HEAD']"},
                                 "workspace": {"test.rev": "None"}}  # lists left out
    assert calls == [["HEAD"], ["HEAD"], None, None]


@pytest.mark.parametrize("given, compared", [
    ([], ["HEAD", "workspace"]), (["v1"], ["v1", "workspace"]), (["a", "b", "c"], ["a", "b", "c"])])
def test_write_comparison_compares_one_revision_with_the_workspace(tmp_path, monkeypatch, given,
                                                                   compared):
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(compare, "build_page", lambda revisions: f"page of {revisions}")
    out = tmp_path / "cmp.html"
    assert compare.write_comparison(given, str(out)) == out
    assert out.read_text() == f"page of {compared}"


def test_write_comparison_outside_a_dvc_repository_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="is not inside a DVC repository: run compare from the "
                       "project's directory$"):
        compare.write_comparison(["HEAD"], tmp_path / "cmp.html")
    assert not (tmp_path / "cmp.html").exists()


def test_a_bundle_that_would_end_its_script_element_is_refused(monkeypatch):
    import vl_convert

    monkeypatch.setattr(vl_convert, "javascript_bundle", lambda vl_version: "a('</SCRIPT>')")
    with pytest.raises(RuntimeError, match="^vl-convert's bundle contains '</script': it cannot "
                       "be inlined$"):
        compare.dvc_plots_template()


def test_the_template_is_written_where_the_config_names_it(tmp_path, monkeypatch):
    path = tmp_path / ".dvc" / "plots" / "offline.html"
    monkeypatch.setattr(compare, "dvc_plots_template_path", lambda: path)
    for page in ("<html>{plot_divs}</html>\n", "<html>{plot_divs} again</html>\n"):
        monkeypatch.setattr(compare, "dvc_plots_template", lambda: page)
        assert compare.write_dvc_plots_template() == path
        assert path.read_text() == page


@pytest.mark.parametrize("argv, revisions, output", [
    (["compare"], [], "comparison.html"),
    (["compare", "HEAD", "wider", "-o", "wider.html"], ["HEAD", "wider"], "wider.html"),
])
def test_the_compare_command_passes_revisions_and_output_on_and_says_what_it_wrote(
        monkeypatch, capsys, argv, revisions, output):
    from mnist_mlp.__main__ import main

    asked = []
    monkeypatch.setattr(compare, "write_comparison",
                        lambda revs, out: asked.append((revs, out)) or Path("/tmp") / out)
    main(argv)
    assert asked == [(revisions, output)]
    assert capsys.readouterr().out == f"wrote {Path('/tmp') / output}\n"
