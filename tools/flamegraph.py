#!/usr/bin/python3
"""flamegraph.py: `perf script` output in, an SVG flame graph out (standard library only).

    perf record -F 99 -g -p PID -- sleep 10
    perf script | tools/flamegraph.py --title "http-epoll under wrk" > flame.svg
    perf script | tools/flamegraph.py --folded > stacks.txt     # "main;f;g 42" lines

Why our own: Debian 12 packages no flame graph renderer, and the npm ones are browser
libraries or whole profilers. This is the classic method in two steps:

1. fold: each sample's call stack (perf prints it leaf first) becomes one line, root
   first, "comm;main;serve;read 1"; equal stacks are added up;
2. render: a box per function per stack depth, as wide as the share of samples in which
   it was on the stack; its children stand on top of it. The x order is alphabetical
   (not time): wide boxes are where the time goes, the top edge is what was on the CPU.

Hover a box for its name, samples and share. Limits: one event (whatever perf recorded),
no differential graphs, no search, no zoom.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import re
import sys
from collections import Counter

OFFSET = re.compile(r"\+0x[0-9a-f]+$")


def fold(lines) -> Counter:
    """Counts each distinct stack ("root;...;leaf") in `perf script` text."""
    stacks: Counter = Counter()
    comm, frames = None, []

    def flush():
        if comm is not None:
            stacks[";".join([comm] + frames[::-1])] += 1

    for raw in lines:
        line = raw.rstrip("\n")
        if not line.strip():
            flush()
            comm, frames = None, []
        elif not line[0].isspace():  # "http-epoll 1234 [000] 12.345: 10101 cpu-clock:"
            flush()
            comm, frames = line.split()[0], []
        else:  # "\t    55d1c2 EventLoop::run+0x42 (/path/http-epoll)"
            parts = line.split(None, 1)
            rest = parts[1] if len(parts) > 1 else "[unknown]"
            name, _, dso = rest.rpartition(" (")
            if name in ("[unknown]", ""):
                name = "[" + dso.rstrip(")").rsplit("/", 1)[-1] + "]"
            frames.append(OFFSET.sub("", name))
    flush()
    return stacks


def build_tree(stacks: Counter) -> dict:
    root = {"name": "all", "count": 0, "kids": {}}
    for stack, count in stacks.items():
        root["count"] += count
        node = root
        for name in stack.split(";"):
            node = node["kids"].setdefault(name, {"name": name, "count": 0, "kids": {}})
            node["count"] += count
    return root


def color(name: str) -> str:
    h = hashlib.md5(name.encode()).digest()
    return f"rgb({205 + h[0] % 50},{80 + h[1] % 120},{h[2] % 60})"


def render(stacks: Counter, title: str, width: int = 1200, row: int = 16) -> str:
    root = build_tree(stacks)
    total = max(root["count"], 1)

    def depth(node):
        return 1 + max((depth(k) for k in node["kids"].values()), default=0)

    height = (depth(root) + 2) * row + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="monospace" font-size="11">',
           f'<rect width="100%" height="100%" fill="#f8f8f0"/>',
           f'<text x="{width // 2}" y="18" text-anchor="middle" font-size="15">{html.escape(title)}</text>']

    def draw(node, x: float, level: int):
        w = node["count"] / total * (width - 20)
        if w < 0.3:
            return
        y = height - (level + 1) * row - 6
        share = 100.0 * node["count"] / total
        label = html.escape(node["name"])
        out.append(f'<g><title>{label} ({node["count"]} samples, {share:.2f}%)</title>'
                   f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" '
                   f'fill="{color(node["name"])}" rx="2"/>')
        chars = int(w / 7)
        if chars >= 3:
            text = label if len(node["name"]) <= chars else html.escape(node["name"][:chars - 2]) + ".."
            out.append(f'<text x="{x + 3:.1f}" y="{y + row - 4}">{text}</text>')
        out.append("</g>")
        for kid in sorted(node["kids"].values(), key=lambda k: k["name"]):
            draw(kid, x, level + 1)
            x += kid["count"] / total * (width - 20)

    draw(root, 10.0, 0)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description="perf script output (stdin or FILE) to an SVG flame graph")
    ap.add_argument("file", nargs="?", help="perf script output (default: stdin)")
    ap.add_argument("--title", default="flame graph")
    ap.add_argument("--folded", action="store_true", help="print the folded stacks instead of SVG")
    args = ap.parse_args()
    with (open(args.file) if args.file else sys.stdin) as f:
        stacks = fold(f)
    if not stacks:
        print("flamegraph.py: no samples in the input (did perf record anything?)", file=sys.stderr)
        return 1
    if args.folded:
        for stack, count in sorted(stacks.items()):
            print(f"{stack} {count}")
    else:
        sys.stdout.write(render(stacks, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
