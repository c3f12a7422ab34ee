#!/usr/bin/env python3
"""torch's own bfloat16 and float32 matmuls at the GEMM shapes of bench/bf16.bench.ts, for comparison.

For each [M, K] x [K, N]: torch.matmul on float32 tensors, and on bfloat16 tensors (Debian's torch 1.13 runs
these through oneDNN on CPU; the result is bfloat16, where saelab's kernel returns float32). Every core
(torch.set_num_threads(os.cpu_count())), no_grad. Prints one JSON line per shape:
{"shape", "f32_ms", "bf16_ms"} (medians of --reps timed runs after one warm-up).
Optional: needs torch (Debian's python3-torch); never a dependency of saelab or its tests.
usage: bf16.py --shapes M,K,N;M,K,N... [--reps N]
"""
import argparse
import json
import os
import statistics
import time

import torch


def timed(step, reps):
    step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", required=True)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    with torch.no_grad():
        for spec in args.shapes.split(";"):
            m, k, n = (int(v) for v in spec.split(","))
            x = torch.randn(m, k)
            w = torch.randn(k, n) * 0.02
            f32 = timed(lambda: torch.matmul(x, w), args.reps)
            xb, wb = x.bfloat16(), w.bfloat16()
            bf16 = timed(lambda: torch.matmul(xb, wb), args.reps)
            print(json.dumps({"shape": [m, k, n], "f32_ms": f32, "bf16_ms": bf16}), flush=True)


if __name__ == "__main__":
    main()
