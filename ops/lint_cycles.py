#!/usr/bin/env python3
"""make lint: no circle of #includes between files of different parts.

A file and its header are one module (x.c, x.h); a part is a top
folder, or a sub-folder of server/ (server/ itself is the process
model). Modules that include each other, directly or round a circle,
form a strongly connected component; one that spans two parts is
reported. Usage: ops/lint_cycles.py FILE... (the .c and .h files)."""
import re
import sys


def part(path):
    p = path.split("/")
    if p[0] == "server":
        return "server/" + p[1] if len(p) > 2 else "server"
    return p[0]


def module(path):
    return re.sub(r"\.[ch]$", "", path)


def graph(files):
    edges = {}
    for f in files:
        with open(f, errors="replace") as fp:
            for line in fp:
                m = re.match(r'#include "([^"]+)"', line)
                if m and module(m.group(1)) != module(f):
                    edges.setdefault(module(f), set()).add(module(m.group(1)))
    return edges


def components(edges):
    """Tarjan's strongly connected components, iteratively."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], 0
    for root in list(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = n
        n += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = n
                    n += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    out.append(comp)
    return out


def main():
    bad = [c for c in components(graph(sys.argv[1:]))
           if len({part(m) for m in c}) > 1]
    for c in bad:
        print("lint: a circle of includes across parts: " +
              " ".join(sorted(c)), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
