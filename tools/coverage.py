#!/usr/bin/env python3
"""coverage.py: line and branch coverage per directory, from a --coverage build.

    tools/coverage.py BUILD_DIR [--min-lines PCT]

Runs gcovr once over BUILD_DIR (after its tests have run), keeps the project's own
sources (common/, stage1-echo/ .. stage5-prefork/; tests, labs, bench and third-party
headers are left out), and prints one line per directory:

    directory            lines              branches
    common/              4321/5000  86.4%   2100/3000  70.0%

It writes BUILD_DIR/coverage.json (gcovr's per-file summary) and BUILD_DIR/coverage.html.
With --min-lines, exits 1 when a directory's line coverage is below PCT (CI does not pass
it: the figure is reported, not enforced). Who calls it: `make coverage`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIRS = ["common", "stage1-echo", "stage2-http-seq", "stage3-threadpool", "stage4-epoll",
        "stage5-prefork"]


def run_gcovr(build: Path) -> dict:
    summary = build / "coverage.json"
    cmd = ["gcovr", "--root", str(ROOT), "--object-directory", str(build),
           "--filter", r"(common|stage\d-[a-z-]+)/",
           "--exclude", r".*/tests/.*", "--exclude-unreachable-branches",
           "--exclude-throw-branches", "--json-summary-pretty", "--json-summary", str(summary),
           "--html", str(build / "coverage.html")]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return json.loads(summary.read_text())


def per_directory(files: list[dict]) -> dict[str, list[int]]:
    """dir -> [lines covered, lines, branches covered, branches]."""
    totals = {d: [0, 0, 0, 0] for d in DIRS}
    for f in files:
        top = f["filename"].split("/", 1)[0]
        if top in totals:
            t = totals[top]
            t[0] += f["line_covered"]
            t[1] += f["line_total"]
            t[2] += f["branch_covered"]
            t[3] += f["branch_total"]
    return totals


def pct(a: int, b: int) -> float:
    return 100.0 * a / b if b else 100.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", type=Path)
    ap.add_argument("--min-lines", type=float, default=None)
    args = ap.parse_args()
    if not any(args.build.rglob("*.gcda")):
        print(f"coverage: no .gcda files under {args.build}: build with the coverage preset "
              f"and run the tests first", file=sys.stderr)
        return 1
    data = run_gcovr(args.build.resolve())
    totals = per_directory(data["files"])
    print(f"{'directory':20} {'lines':>19} {'branches':>19}")
    low = []
    for d, (lc, lt, bc, bt) in totals.items():
        print(f"{d + '/':20} {lc:>6}/{lt:<6} {pct(lc, lt):5.1f}% {bc:>6}/{bt:<6} {pct(bc, bt):5.1f}%")
        if args.min_lines is not None and pct(lc, lt) < args.min_lines:
            low.append(d)
    lc, lt = sum(t[0] for t in totals.values()), sum(t[1] for t in totals.values())
    bc, bt = sum(t[2] for t in totals.values()), sum(t[3] for t in totals.values())
    print(f"{'total':20} {lc:>6}/{lt:<6} {pct(lc, lt):5.1f}% {bc:>6}/{bt:<6} {pct(bc, bt):5.1f}%")
    print(f"coverage: per-file detail in {args.build / 'coverage.html'}")
    if low:
        print(f"coverage: below {args.min_lines}% of lines: {', '.join(low)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
