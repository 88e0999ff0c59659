#!/usr/bin/env python3
"""Lists import cycles between sibling modules of the zagent crate.

Every `crate::…` and `super::…` path in src/ (use declarations, brace groups expanded, and
inline paths; comments ignored) is an edge from the file's module to the longest known
module the path names. An edge counts between the two ancestors that are siblings (so
`tls::client -> transport` is `tls -> transport`; a child using its parent is no edge).
Prints the strongly connected components with more than one member; exits 1 if any.
Usage: python3 scripts/modcycles.py [src]
"""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else "src"

def module_of(path):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)

files = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith(".rs"):
            p = os.path.join(d, f)
            files[module_of(p)] = p
mods = set(files)

def strip_comments(s):
    s = re.sub(r"/\*.*?\*/", "", s, flags=re.S)
    s = re.sub(r"//[^\n]*", "", s)
    s = re.sub(r'"(\\.|[^"\\])*"', '""', s)
    return s

def expand(prefix, body):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    out, depth, cur = [], 0, ""
    parts = []
    for ch in body:
        if ch == "{": depth += 1
        if ch == "}": depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur); cur = ""
        else:
            cur += ch
    parts.append(cur)
    for p in parts:
        p = p.strip()
        if not p: continue
        m = re.match(r"^([\w:]*?)::\{(.*)\}$", p, re.S)
        if m:
            out += expand(prefix + [x for x in m.group(1).split("::") if x], m.group(2))
        else:
            out.append(prefix + [x for x in p.split(" as ")[0].split("::") if x])
    return out

def resolve(mod, segs):
    if not segs: return None
    if segs[0] == "crate":
        base, rest = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base = mod
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super": base = base[:-1]
            segs = segs[1:]
        rest = segs
    else:
        return None
    best = base
    cur = base
    for s in rest:
        cur = cur + (s,)
        if cur in mods: best = cur
        else: break
    return best

edges = set()
for mod, path in files.items():
    text = strip_comments(open(path, encoding="utf-8").read())
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        u = m.group(1).strip()
        mm = re.match(r"^([\w:]*?)::\{(.*)\}$", u, re.S)
        paths += expand([x for x in mm.group(1).split("::") if x], mm.group(2)) if mm else [u.split(" as ")[0].split("::")]
    for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", text):
        paths.append(m.group(1).split("::"))
    for segs in paths:
        segs = [s.strip() for s in segs if s.strip()]
        t = resolve(mod, segs)
        if t is None or t == mod: continue
        # sibling ancestors
        i = 0
        while i < min(len(mod), len(t)) and mod[i] == t[i]: i += 1
        if i >= len(mod) or i >= len(t): continue  # ancestor/descendant
        edges.add((mod[: i + 1], t[: i + 1]))

graph = {}
for a, b in edges:
    graph.setdefault(a, set()).add(b)
    graph.setdefault(b, set())

# Tarjan
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in graph[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(comp)
sys.setrecursionlimit(10000)
for v in list(graph):
    if v not in index: visit(v)
cycles = [c for c in sccs if len(c) > 1]
print(f"{len(mods)} modules, {len(edges)} sibling edges")
for c in cycles:
    names = sorted("::".join(x) for x in c)
    print("cycle:", " <-> ".join(names))
    for a in c:
        for b in c:
            if (a, b) in edges: print("   ", "::".join(a), "->", "::".join(b))
sys.exit(1 if cycles else 0)
