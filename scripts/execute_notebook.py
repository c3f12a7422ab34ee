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
import signal
import sys
import threading
import time

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor, CellExecutionError
from nbclient.exceptions import DeadKernelError


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


def kernel_process(km):
    """The kernel's Popen (jupyter_client 7+: the provisioner's; older: km.kernel), or None."""
    prov = getattr(km, "provisioner", None)
    proc = getattr(prov, "process", None) if prov is not None else None
    return proc if proc is not None else getattr(km, "kernel", None)


def proc_status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class TrackingPreprocessor(ExecutePreprocessor):
    """Remembers the index of the cell being executed, to name the failing one, and the kernel's peak memory."""
    current = None
    peak_kb = 0
    kernel_proc = None
    _watcher = None

    count = 0

    def preprocess_cell(self, cell, resources, index):
        self.current = index
        if self._watcher is None and getattr(self, "km", None) is not None:
            # keep the Popen: the client drops it when it shuts a dead kernel down
            self.kernel_proc = kernel_process(self.km)
            self._watcher = threading.Thread(target=self._watch, daemon=True)
            self._watcher.start()
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.cell_type == "code" and cell.source.strip():
            # tslab's execute_reply carries no execution_count: number the cells as Jupyter would, so the
            # exported page shows In [1], In [2], ... instead of In [ ] (which reads as "never run")
            self.count += 1
            if cell.get("execution_count") is None:
                cell.execution_count = self.count
        return cell, resources

    def _watch(self):
        while True:
            proc = self.kernel_proc
            pid = getattr(proc, "pid", None)
            if pid is None:
                return
            hwm = proc_status_kb(pid, "VmHWM")
            if hwm is None:
                return
            self.peak_kb = max(self.peak_kb, hwm)
            time.sleep(0.5)


def gb(kb):
    return f"{kb / 1e6:.1f} GB"


def mem_total_kb():
    return proc_status_meminfo("MemTotal")


def proc_status_meminfo(field):
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def kernel_death_report(ep, out_dir, cell_index):
    """Why the kernel died: its exit signal, its peak memory, and what the stage was doing (.activity.json)."""
    proc = ep.kernel_proc
    code = None
    if proc is not None:
        try:
            code = proc.wait(timeout=5)
        except Exception:
            code = getattr(proc, "returncode", None)
    text = f"the notebook's kernel died while running cell {cell_index + 1}" if cell_index is not None else "the notebook's kernel died"
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        text += f" (killed by {name})"
    elif code is not None:
        text += f" (exit code {code})"
    total = mem_total_kb()
    peak = ep.peak_kb
    if peak:
        text += f"; its memory peaked at {gb(peak)}" + (f" of the machine's {gb(total)}" if total else "")
    activity = None
    try:
        with open(os.path.join(out_dir, ".activity.json")) as f:
            activity = json.load(f)
    except (OSError, ValueError):
        pass
    text += "."
    if activity:
        text += f" Stage {activity.get('stage') or '?'} was {activity.get('doing')}"
        if activity.get("rssBytes"):
            text += f" (the kernel then held {gb(activity['rssBytes'] / 1000)})"
        text += "."
    if code == -signal.SIGKILL:
        text += (" Likely cause: the out-of-memory killer (a SIGKILL nobody asked for). Lower the stage's batch sizes or"
                 " maxTokensPerForward, load the models in 16 bits (\"dtype\": \"bfloat16\"), set \"maxMemory\" /"
                 " SAELAB_MAX_MEMORY below what the machine can give, or free memory held by other processes.")
    elif code is not None and code < 0 and -code in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
        text += " Likely cause: a crash in native code (the backend or an addon); rerun with SAELAB_BACKEND=wasm to check."
    return text


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
    except DeadKernelError:
        idx = ep.current
        cell = nb.cells[idx] if idx is not None else None
        failed = {"failed": True, "cell": idx, "source": cell.source if cell is not None else "",
                  "error": kernel_death_report(ep, a.out_dir, idx), "kernelDied": True}
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
