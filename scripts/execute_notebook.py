#!/usr/bin/env python3
"""Execute one notebook headless with nbconvert's ExecutePreprocessor and export HTML.

usage: execute_notebook.py IN.ipynb OUT_DIR [--kernel tslab] [--timeout SECONDS]

Writes OUT_DIR/<name>.ipynb and OUT_DIR/<name>.html (each written to a temporary file, then
renamed). On a failing cell it still writes the notebook executed up to that cell, prints a JSON
line {"failed": true, "cell": index, "source": ..., "error": ...} on stdout and exits 1.
Used by saelab's pipeline runner; Jupyter comes from Debian (jupyter-nbconvert, python3-nbclient).
"""
import json
import os
import sys

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor, CellExecutionError


def write_atomic(path, text):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def cell_error_text(cell):
    """The error a tslab cell reported: tslab prints it on stderr; Python kernels use an error output."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            parts.append(f"{out.get('ename', '')}: {out.get('evalue', '')}")
        elif out.get("output_type") == "stream" and out.get("name") == "stderr":
            parts.append(out.get("text", ""))
    return "".join(parts).strip()


class TrackingPreprocessor(ExecutePreprocessor):
    """Remembers the index of the cell being executed, to name the failing one."""
    current = None

    count = 0

    def preprocess_cell(self, cell, resources, index):
        self.current = index
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.cell_type == "code" and cell.source.strip():
            # tslab's execute_reply carries no execution_count: number the cells as Jupyter would, so the
            # exported page shows In [1], In [2], ... instead of In [ ] (which reads as "never run")
            self.count += 1
            if cell.get("execution_count") is None:
                cell.execution_count = self.count
        return cell, resources


def main(argv):
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("notebook")
    p.add_argument("out_dir")
    p.add_argument("--kernel", default="tslab")
    p.add_argument("--timeout", type=int, default=-1)
    a = p.parse_args(argv)
    nb = nbformat.read(a.notebook, as_version=4)
    name = os.path.splitext(os.path.basename(a.notebook))[0]
    os.makedirs(a.out_dir, exist_ok=True)
    ep = TrackingPreprocessor(timeout=a.timeout, kernel_name=a.kernel)
    failed = None
    try:
        ep.preprocess(nb, {"metadata": {"path": os.path.dirname(os.path.abspath(a.notebook))}})
    except CellExecutionError as e:
        idx = ep.current
        cell = nb.cells[idx] if idx is not None else None
        err = cell_error_text(cell) if cell is not None else ""
        if not err:
            err = str(e).strip().splitlines()[-1] if str(e).strip() else "cell failed"
        failed = {"failed": True, "cell": idx, "source": cell.source if cell is not None else "", "error": err}
    write_atomic(os.path.join(a.out_dir, name + ".ipynb"), nbformat.writes(nb))
    html, _ = HTMLExporter().from_notebook_node(nb)
    write_atomic(os.path.join(a.out_dir, name + ".html"), html)
    if failed:
        print(json.dumps(failed))
        return 1
    print(json.dumps({"failed": False}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
