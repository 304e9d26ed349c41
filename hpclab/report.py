"""`hpclab report FILES... [-o report.html]`: one self-contained HTML page comparing machines.

Reads the results files that hpclab.results.record wrote on each machine of a class (students'
laptops, a GPU node), and writes a page with the machines, one table per lesson (a row per
measured number, a column per machine) and a bar chart per number, the figures embedded as
PNG, so the page can be mailed or put on a course site as one file.
Files that cannot be read are listed with the reason and left out; files from different
versions of TensorFlow or hpclab are compared with a warning at the top of the page.
"""

from __future__ import annotations

import base64
import html
import io
import pathlib

from hpclab import results

VERSION_KEYS = ("tensorflow", "keras", "hpclab")


def collect(paths) -> tuple[list[dict], list[str]]:
    """Load every readable file; returns (machines, problems). A machine: label, machine, results."""
    machines, problems = [], []
    for path in paths:
        try:
            data = results.load(path)
        except results.BadResultsFile as err:
            problems.append(str(err))
            continue
        label = f"M{len(machines) + 1}"
        machines.append({"label": label, "file": pathlib.Path(path).name, **data})
    return machines, problems


def version_warnings(machines: list[dict]) -> list[str]:
    warnings = []
    for key in VERSION_KEYS:
        seen = sorted({str(m["machine"].get(key)) for m in machines})
        if len(seen) > 1:
            warnings.append(f"the machines ran different {key} versions ({', '.join(seen)}): "
                            "differences may come from the versions, not the hardware")
    return warnings


def table(machines: list[dict]):
    """A pandas DataFrame: one row per (lesson, name, unit), one column per machine label."""
    import pandas as pd

    rows = [{"lesson": r["lesson"], "name": r["name"], "unit": r["unit"], "machine": m["label"],
             "value": r["value"]} for m in machines for r in m["results"]]
    if not rows:
        return pd.DataFrame(columns=["lesson", "name", "unit"])
    frame = pd.DataFrame(rows).pivot_table(index=["lesson", "name", "unit"], columns="machine",
                                           values="value", aggfunc="last")
    return frame.reindex(columns=[m["label"] for m in machines]).reset_index()


def _figure(row, labels) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = [row[label] for label in labels]
    fig, ax = plt.subplots(figsize=(4, 0.4 + 0.35 * len(labels)), dpi=80)
    ax.barh(labels, [0 if v != v else v for v in values], color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlabel(row["unit"])
    ax.set_title(f"{row['lesson']}: {row['name']}", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def build(paths) -> tuple[str, list[str]]:
    """The HTML page and the list of problems (unreadable files, version mixes)."""
    machines, problems = collect(paths)
    if not machines:
        raise ValueError("no readable results file among: " + ", ".join(map(str, paths))
                         + ("\n" + "\n".join(problems) if problems else ""))
    warnings = version_warnings(machines)
    frame = table(machines)
    labels = [m["label"] for m in machines]
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>hpclab class results</title>",
             "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;"
             "text-align:right}th{background:#eee}td:first-child,td:nth-child(2){text-align:left}"
             ".warn{background:#fff3cd;padding:.5em}</style></head><body>",
             f"<h1>hpclab class results: {len(machines)} machine(s)</h1>"]
    for text in warnings + problems:
        parts.append(f"<p class='warn'>{esc(text)}</p>")
    keys = ["cpu_model", "cpu_cores", "kernel_path", "accelerators", "os", "python", *VERSION_KEYS]
    parts.append("<h2>Machines</h2><table><tr><th>machine</th><th>file</th>"
                 + "".join(f"<th>{esc(k)}</th>" for k in keys) + "</tr>")
    for m in machines:
        cells = []
        for k in keys:
            v = m["machine"].get(k, "")
            cells.append(esc(", ".join(v) if isinstance(v, list) else str(v)) or "none")
        parts.append(f"<tr><td>{m['label']}</td><td>{esc(m['file'])}</td>"
                     + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts.append("</table>")
    for lesson, group in frame.groupby("lesson", sort=True):
        parts.append(f"<h2>Lesson {esc(str(lesson))}</h2><table><tr><th>measured</th><th>unit</th>"
                     + "".join(f"<th>{label}</th>" for label in labels) + "</tr>")
        for _, row in group.iterrows():
            values = "".join("<td>–</td>" if row[label] != row[label] else f"<td>{row[label]:.4g}</td>"
                             for label in labels)
            parts.append(f"<tr><td>{esc(row['name'])}</td><td>{esc(row['unit'])}</td>{values}</tr>")
        parts.append("</table>")
        for _, row in group.iterrows():
            parts.append(f"<img alt='{esc(row['name'])}' src='data:image/png;base64,"
                         f"{_figure(row, labels)}'>")
    parts.append("</body></html>")
    return "\n".join(parts), warnings + problems


def main(paths, output) -> int:
    """`hpclab report`: write the page; messages on stderr; 2 if no file could be read."""
    import sys

    output = pathlib.Path(output)
    if output.suffix.lower() not in (".html", ".htm"):
        print(f"the report is an HTML page: name it e.g. report.html; got {output}", file=sys.stderr)
        return 2
    try:
        page, messages = build(paths)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    for text in messages:
        print(f"note: {text}", file=sys.stderr)
    output.write_text(page)
    print(f"wrote {output}")
    return 0
