"""Revisions and experiments compared on HTML pages that draw without network.

DVC's own ``dvc plots show`` and ``dvc plots diff`` pages load Vega from a CDN and draw blank
offline, unless DVC fills a template that carries Vega itself: ``dvc_plots_template`` writes
one, which .dvc/config names. The comparison page (``write_comparison``) is one file that runs
no script: DVC's Vega-Lite specs (``dvc plots diff --json``, data inlined) rendered to inline
SVG by vl-convert, which bundles Vega; the figures as data URIs; each revision's metrics and
params (``revision_values``) side by side.
"""

from __future__ import annotations

import base64
import html
import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from .errors import UserError
from .fileio import write_text

WORKSPACE = "workspace"


def dvc_json(*args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"dvc {' '.join(args)} failed: {detail}")
    return json.loads(result.stdout)


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif not isinstance(value, list):
            flat[name] = value
    return flat


def revision_values(revisions: list[str]) -> tuple[dict, dict]:
    """(metrics, params) per revision, each flattened to {"key.path": value}. Each revision is
    read on its own (``one_revision``): dvc.api's ``metrics_show(rev=...)`` and
    ``params_show(rev=...)`` read the workspace too and raise its error whatever the revision,
    so after a failed ``dvc exp run`` (which removes the failed stage's metrics) every
    comparison failed, naming the revision asked for."""
    from dvc.repo import Repo

    metrics, params = {}, {}
    with Repo() as repo:
        for rev in revisions:
            try:
                metrics[rev] = flatten(one_revision(repo.metrics.show, rev))
                params[rev] = flatten(one_revision(repo.params.show, rev))
            except FileNotFoundError as exc:
                # A revision without its reports: a commit from before the first run, or the
                # workspace after a failed experiment.
                raise UserError(f"cannot read revision {rev!r}: it has no "
                                f"{exc.filename or 'metrics or params file'}") from None
            except Exception as exc:  # dvc raises many types for an unknown revision
                raise UserError(f"cannot read revision {rev!r}: {exc}") from None
    return metrics, params


def one_revision(show: Callable[..., dict], rev: str) -> dict:
    """``rev``'s files as DVC's ``metrics.show`` or ``params.show`` reads them, merged into one
    dict as dvc.api merges them (a key two files share is named "file:key"); the revision's
    error, or its first file's, raised."""
    shown = show(revs=None if rev == WORKSPACE else [rev], on_error="return")
    # The workspace alone comes back under DVC's own name for it; a revision beside the
    # workspace, which DVC reads too, under the name it was asked by.
    result = next(iter(shown.values())) if rev == WORKSPACE else shown[rev]
    entries = result.get("data", {})
    for error in [result.get("error")] + [entry.get("error") for entry in entries.values()]:
        if error is not None:
            raise error
    files = {name: entry.get("data", {}) for name, entry in entries.items()}
    counts = Counter(key for data in files.values() for key in data)
    return {(key if counts[key] == 1 else f"{name}:{key}"): value
            for name, data in files.items() for key, value in data.items()}


def render_vega_lite(spec: dict) -> str:
    import vl_convert

    return vl_convert.vegalite_to_svg(spec)


def table(title: str, values: dict[str, dict], revisions: list[str], only_changed: bool) -> str:
    keys = sorted({k for rev in revisions for k in values[rev]})
    rows = []
    for key in keys:
        cells = [values[rev].get(key, "–") for rev in revisions]
        if only_changed and len({json.dumps(c) for c in cells}) == 1:
            continue
        cells_html = "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in cells)
        rows.append(f"<tr><th>{html.escape(key)}</th>{cells_html}</tr>")
    head = "".join(f"<th>{html.escape(r)}</th>" for r in revisions)
    note = " (only those that differ)" if only_changed else ""
    body = "".join(rows) or f"<tr><td colspan={len(revisions) + 1}>no differences</td></tr>"
    return (f"<h2>{html.escape(title)}{note}</h2><table><tr><th></th>{head}</tr>{body}</table>")


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def build_page(revisions: list[str]) -> str:
    metrics, params = revision_values(revisions)
    headline = {rev: {k: v for k, v in m.items() if not k.startswith("per_class.")}
                for rev, m in metrics.items()}
    per_class = {rev: {k: v for k, v in m.items() if k.startswith("per_class.")}
                 for rev, m in metrics.items()}
    sections = [table("Metrics", headline, revisions, only_changed=False),
                "<details><summary>Per-class test metrics</summary>"
                + table("Per-class test metrics", per_class, revisions, only_changed=False)
                + "</details>",
                table("Params", params, revisions, only_changed=True)]
    with tempfile.TemporaryDirectory() as images_dir:
        plots = dvc_json("plots", "diff", "--json", "-o", images_dir, *revisions)
        plots = plots.get("data", plots)
        for plot_id, entries in plots.items():
            parts = []
            for entry in entries:
                if entry["type"] == "vega":
                    parts.append(f"<div class=plot>{render_vega_lite(entry['content'])}</div>")
                elif entry["type"] == "image":
                    data = base64.b64encode(Path(entry["url"]).read_bytes()).decode()
                    rev = ", ".join(entry["revisions"])
                    parts.append(f"<figure><img alt='{html.escape(plot_id)} at "
                                 f"{html.escape(rev)}' src='data:image/png;base64,{data}'>"
                                 f"<figcaption>{html.escape(rev)}</figcaption></figure>")
            sections.append(f"<h2>{html.escape(plot_id)}</h2><div class=row>{''.join(parts)}"
                            "</div>")
    title = "Comparison: " + ", ".join(revisions)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
th, td {{ border: 1px solid #ccc; padding: 2px 8px; text-align: right; font-size: 13px; }}
th:first-child {{ text-align: left; }}
.row {{ display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }}
figure {{ margin: 0; }} img {{ max-width: 560px; }}
</style></head><body><h1>{html.escape(title)}</h1>
{''.join(sections)}
</body></html>
"""


def write_comparison(revisions: list[str], output: str | Path) -> Path:
    """Write the page for ``revisions`` (one revision: it and the workspace) to ``output``."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        Repo.find_root()
    except NotDvcRepoError:
        raise UserError(f"{Path.cwd()} is not inside a DVC repository: run compare from the "
                        "project's directory") from None
    revisions = list(revisions) or ["HEAD"]
    if len(revisions) == 1:  # as `dvc plots diff REV`: that revision against the workspace
        revisions.append(WORKSPACE)
    write_text(output, build_page(revisions))
    return Path(output)


#: The major version of Vega-Lite DVC writes its plot specs for (their "$schema").
DVC_VEGA_LITE_MAJOR = 5

#: What takes the place of DVC's ``{scripts}``, the tags that load Vega, Vega-Lite and
#: Vega-Embed from a CDN: the bundle itself, and a charset, as it has non-ASCII characters.
INLINE_SCRIPTS = """<meta charset="utf-8">
    <!-- Written by `make plots-template` for `dvc plots show` and `dvc plots diff`
         (.dvc/config's plots.html_template): Vega {vega}, Vega-Lite {vega_lite} and Vega-Embed
         {embed} (each BSD-3-Clause), as vl-convert-python {package} bundles them, so that the
         page draws its plots without network. -->
    <script>
{bundle}
    </script>"""


def dvc_plots_template() -> str:
    """DVC's default page for its plots (dvc-render's, whose ``{plot_divs}`` and
    ``{refresh_tag}`` DVC fills) with Vega, the newest Vega-Lite of DVC's major version and
    Vega-Embed inline, as vl-convert bundles them, where the page had ``{scripts}``."""
    from importlib import metadata

    import vl_convert
    from dvc_render.html import PAGE_HTML

    versions = [v for v in vl_convert.get_vegalite_versions()
                if int(v.split(".")[0]) == DVC_VEGA_LITE_MAJOR]
    vega_lite = max(versions, key=lambda v: tuple(map(int, v.split("."))))
    bundle = vl_convert.javascript_bundle(vl_version=vega_lite)
    if "</script" in bundle.lower():  # it would end the <script> element early
        raise RuntimeError("vl-convert's bundle contains '</script': it cannot be inlined")
    scripts = INLINE_SCRIPTS.format(
        package=metadata.version("vl-convert-python"), vega=vl_convert.get_vega_version(),
        vega_lite=vega_lite, embed=vl_convert.get_vega_embed_version(), bundle=bundle)
    return PAGE_HTML.replace("{scripts}", scripts) + "\n"


def dvc_plots_template_path() -> Path:
    """Where .dvc/config's ``plots.html_template`` puts the template (relative to .dvc/)."""
    from dvc.repo import Repo

    with Repo() as repo:
        return Path(repo.dvc_dir) / repo.config["plots"]["html_template"]


def write_dvc_plots_template() -> Path:
    """Write ``dvc_plots_template`` where .dvc/config names it (``make plots-template``)."""
    path = dvc_plots_template_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, dvc_plots_template())
    return path
