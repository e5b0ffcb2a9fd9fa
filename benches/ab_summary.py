#!/usr/bin/env python3
"""Summarises benches/ab.sh: per bench the median of each build over the
rounds, the ratio of the medians, the median and range of the per-round
ratios (B's time over A's in the same round) and each build's spread
between rounds (slowest / fastest - 1).

Usage: benches/ab_summary.py OUTDIR NAME_A NAME_B
"""
import collections
import re
import statistics as st
import sys

out, a_name, b_name = sys.argv[1:4]
unit = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
res = collections.defaultdict(lambda: collections.defaultdict(dict))
order = []
for line in open(out + "/results.txt"):
    m = re.match(r"(\S+) (\S+) (\d+).*?time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
    if not m:
        continue
    bench, who, rnd, value, u = m.groups()
    if bench not in order:
        order.append(bench)
    res[bench][who][int(rnd)] = float(value) * unit[u]
print(f"| bench | {a_name} median (µs) | {b_name} median (µs) | ratio of medians "
      f"| per-round ratio: median [min–max] | spread {a_name} | spread {b_name} | rounds |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for bench in order:
    a, b = res[bench][a_name], res[bench][b_name]
    ratios = [b[r] / a[r] for r in a if r in b]
    if not ratios:
        continue
    ma, mb = st.median(a.values()), st.median(b.values())
    spread = lambda v: f"{100 * (max(v) / min(v) - 1):.0f}%"
    print(f"| {bench} | {ma:.4g} | {mb:.4g} | {mb / ma:.3f} | {st.median(ratios):.3f} "
          f"[{min(ratios):.2f}–{max(ratios):.2f}] | {spread(list(a.values()))} "
          f"| {spread(list(b.values()))} | {len(ratios)} |")
