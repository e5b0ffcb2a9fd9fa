#!/usr/bin/env python3
"""Checks the module graph of a crate: no two modules import each other,
and modules of a layer import only the layers they may.

An edge A -> B exists when code of module A (comments and `mod` declarations
excluded) names a path that resolves into module B: `crate::..`, `super::..`,
`self::..`, or a child module's name. Inline `mod tests { .. }` blocks count
as their own module.

Usage: check_modules.py <crate>/src [-v] [--layer MOD=ALLOWED,..]..
  -v                 print every edge
  --layer simd=simd  modules under `crate::simd` may import only modules
                     under `crate::simd` (external crates are not checked)
Exits 1 on a mutual pair or a layer violation.
"""
import os, re, sys

root = sys.argv[1]

def modpath(rel):
    rel = rel[:-3]
    parts = rel.split(os.sep)
    if parts[-1] in ("lib", "main"):
        parts = parts[:-1]
    elif parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)

files = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith(".rs"):
            p = os.path.join(d, f)
            files[modpath(os.path.relpath(p, root))] = open(p).read()

def strip_comments(s):
    s = re.sub(r"/\*.*?\*/", "", s, flags=re.S)
    s = re.sub(r"//[^\n]*", "", s)
    s = re.sub(r'"(?:\\.|[^"\\])*"', '""', s)
    return s

# Split off inline test modules (to the end of their braces).
mods = {}
for m, src in files.items():
    src = strip_comments(src)
    out = src
    for t in re.finditer(r"\bmod\s+(\w+)\s*\{", src):
        start = t.end()
        depth, i = 1, start
        while depth and i < len(src):
            depth += {"{": 1, "}": -1}.get(src[i], 0)
            i += 1
        mods[m + (t.group(1),)] = src[start:i - 1]
        out = out.replace(src[t.start():i], "")
    mods[m] = out

known = set(mods)
for m in list(known):
    for i in range(len(m)):
        known.add(m[:i])

def children(m):
    return {k[len(m)] for k in known if len(k) == len(m) + 1 and k[:len(m)] == m}

def expand_use(body):
    """`a::{b, c::{d}}` -> ['a::b', 'a::c::d']"""
    body = body.strip()
    m = re.match(r"^(.*?)\{(.*)\}$", body, flags=re.S)
    if not m:
        return [re.sub(r"\s+as\s+\w+$", "", body)]
    prefix, inner = m.group(1), m.group(2)
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur); cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    items.append(cur)
    res = []
    for it in items:
        if it.strip():
            res += [prefix + x for x in expand_use(it)]
    return res

def resolve(m, path):
    parts = [p for p in path.split("::") if p]
    if not parts:
        return None
    if parts[0] == "crate":
        base, parts = (), parts[1:]
    elif parts[0] in ("super", "self"):
        base = m
        while parts and parts[0] in ("super", "self"):
            if parts[0] == "super":
                base = base[:-1]
            parts = parts[1:]
    elif parts[0] in children(m):
        base = m
    else:
        return None
    cur = base
    for p in parts:
        if cur + (p,) in known:
            cur = cur + (p,)
        else:
            break
    return cur

edges = {}
for m, src in mods.items():
    paths = []
    for u in re.finditer(r"\buse\s+([^;]+);", src):
        paths += expand_use(u.group(1))
    rest = re.sub(r"\buse\s+[^;]+;", "", src)
    rest = re.sub(r"\bmod\s+\w+\s*;", "", rest)
    paths += re.findall(r"(?<![:\w])((?:crate|super|self)(?:::\w+)+)", rest)
    for c in children(m):
        paths += re.findall(r"(?<![:\w])(%s(?:::\w+)+)" % re.escape(c), rest)
    for p in paths:
        t = resolve(m, p.replace(" ", "").replace("\n", ""))
        if t is not None and t != m:
            edges.setdefault(m, set()).add(t)

name = lambda m: "crate" + "".join("::" + p for p in m)
layers = [a.split("=", 1) for i, a in enumerate(sys.argv) if i and sys.argv[i - 1] == "--layer"]
violations = []
for spec, allowed in layers:
    lo = tuple(spec.split("::"))
    ok = [tuple(a.split("::")) for a in allowed.split(",")]
    for a in edges:
        if a[:len(lo)] != lo:
            continue
        for b in edges[a]:
            if not any(b[:len(o)] == o for o in ok):
                violations.append((a, b))
pairs = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, ())})
if "-v" in sys.argv:
    for a in sorted(edges):
        print(name(a), "->", ", ".join(sorted(name(b) for b in edges[a])))
for a, b in pairs:
    print("CYCLE:", name(a), "<->", name(b))
for a, b in sorted(violations):
    print("LAYER:", name(a), "->", name(b))
print(f"{len(mods)} modules, {sum(len(v) for v in edges.values())} edges, "
      f"{len(pairs)} mutual pairs, {len(violations)} layer violations")
sys.exit(1 if pairs or violations else 0)
