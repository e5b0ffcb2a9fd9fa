#!/usr/bin/env python3
"""NumPy's side of the whitening fit benchmark (see BENCHMARKS.md).

Times `np.cov` + `np.linalg.eigh` on the patch matrix the Rust example
writes with `--dump` (raw little-endian float32, [n, dim] row-major):

    cargo run --release --example whitening -- --dump runs/whitening/patches.f32
    python3 benches/whitening_numpy.py runs/whitening/patches.f32 [runs] [float64|float32|both]

Prints one line per run and dtype, then the medians. float64 is what
`np.cov` does by default; float32 (`np.cov(..., dtype=np.float32)` and
`eigh` of the float32 matrix) is reported too, for fairness with our f32
GEMM. The thread count is OpenBLAS's own (all cores unless
OPENBLAS_NUM_THREADS says otherwise).
"""
import os
import statistics
import sys
import time

import numpy as np

DIM = 3072


def blas_threads():
    try:
        from threadpoolctl import threadpool_info

        return ", ".join(
            f"{i.get('internal_api')} {i.get('version')} {i.get('num_threads')} threads"
            for i in threadpool_info()
        )
    except ImportError:
        return f"(threadpoolctl not installed; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')})"


def fit(x, dtype):
    t0 = time.perf_counter()
    cov = np.cov(x, rowvar=False, dtype=dtype)
    t1 = time.perf_counter()
    w, v = np.linalg.eigh(cov)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, t2 - t0, w


def main():
    path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    which = sys.argv[3] if len(sys.argv) > 3 else "both"
    x = np.fromfile(path, dtype="<f4").reshape(-1, DIM)
    print(f"numpy {np.__version__}; {blas_threads()}; data {x.shape[0]} x {x.shape[1]} float32")
    dtypes = {"float64": [np.float64], "float32": [np.float32], "both": [np.float64, np.float32]}[which]
    results = {d.__name__: [] for d in dtypes}
    for r in range(runs):
        for d in dtypes:
            cov_s, eig_s, total_s, w = fit(x, d)
            results[d.__name__].append((cov_s, eig_s, total_s))
            print(
                f"run {r + 1} {d.__name__}: cov {cov_s:.3f} s, eigh {eig_s:.3f} s, total {total_s:.3f} s "
                f"(largest eigenvalue {w[-1]:.6g}, smallest {w[0]:.3g})",
                flush=True,
            )
    for name, rows in results.items():
        med = [statistics.median(col) for col in zip(*rows)]
        print(f"median {name}: cov {med[0]:.3f} s, eigh {med[1]:.3f} s, total {med[2]:.3f} s")


if __name__ == "__main__":
    main()
