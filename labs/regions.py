#!/usr/bin/env python3
"""regions.py: list the lab regions of this tree and say which are still the stub.

A lab region is the code between `// [labNN:name:begin]` and `// [labNN:name:end]`
(labs/README.md, "Finding what to write"). This script finds every region in the
tree and compares its body with the stub the starter tree was given:

    labs/regions.py                       every region: key, file:line, stub or written
    labs/regions.py --require lab02 lab03:request-line
                                          exit 3, naming each one still the stub

Where the stub comes from:
  - in the reference tree, from the region's own `// [labNN:name:stub] code` lines;
  - in the starter tree, from labs/stubs.json, which tools/handout.py writes.
Bodies are compared line by line with surrounding blanks removed and blank lines and
the `TODO(labNN)` line ignored, so re-indenting a stub does not count as writing it.

Who calls it: labs/check-lab.sh before a week's checks (so a suite that needs an
unwritten region stops at once, by name, instead of running servers that cannot
work), students, and graders. Exit status: 0 ok, 3 a required region is still the
stub, 2 bad usage (an unknown lab or region).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUBS_FILE = ROOT / "labs" / "stubs.json"
SOURCE_SUFFIXES = {".cpp", ".hpp", ".h", ".cc", ".ipp"}
SOURCE_DIRS = ("common", "stage1-echo", "stage2-http-seq", "stage3-threadpool",
               "stage4-epoll", "stage5-prefork")
MARKER = re.compile(r"^\s*//\s*\[(?P<lab>lab\d\d):(?P<name>[a-z0-9-]+):"
                    r"(?P<kind>begin|end|stub)\](?P<rest>.*)$")
TODO = re.compile(r"^\s*//\s*TODO\(lab\d\d\)")

# The exit status that says "a region this needs is still the stub".
EXIT_STUB = 3


def normalize(lines: list[str]) -> list[str]:
    """The lines that matter when comparing a body with its stub."""
    return [line.strip() for line in lines if line.strip() and not TODO.match(line)]


def source_files() -> list[Path]:
    """The C++ sources under the stage and common directories (git-free: works in any copy)."""
    files: list[Path] = []
    for d in SOURCE_DIRS:
        base = ROOT / d
        if base.is_dir():
            files += [p for p in base.rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file()]
    return sorted(files)


def scan(path: Path) -> list[dict]:
    """Every well-formed region of one file: key, file, line, body, stub (from comments)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if "[lab" not in text:
        return []
    found, current = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        m = MARKER.match(line)
        if m is None:
            if current is not None:
                current["body"].append(line)
            continue
        key = f"{m['lab']}:{m['name']}"
        if m["kind"] == "begin":
            current = {"key": key, "file": str(path.relative_to(ROOT)), "line": number,
                       "body": [], "stub": []}
        elif current is not None and current["key"] == key:
            if m["kind"] == "stub":
                rest = m["rest"]
                current["stub"].append(rest[1:] if rest.startswith(" ") else rest)
            else:
                found.append(current)
                current = None
    return found


def regions() -> list[dict]:
    """Every region of the tree with status 'stub' or 'written'."""
    recorded = {}
    if STUBS_FILE.is_file():
        recorded = json.loads(STUBS_FILE.read_text(encoding="utf-8"))
    out = []
    for path in source_files():
        for r in scan(path):
            stub = r["stub"] or recorded.get(r["key"], {}).get("stub", [])
            if not stub:
                r["status"] = "unknown"  # no stub to compare with: treated as written
            else:
                r["status"] = "stub" if normalize(r["body"]) == normalize(stub) else "written"
            r["readme"] = recorded.get(r["key"], {}).get("readme") or week_readme(r["key"][3:5])
            out.append(r)
    return sorted(out, key=lambda r: r["key"])


def week_readme(week: str) -> str:
    found = sorted((ROOT / "labs").glob(f"week{week}-*/README.md"))
    return str(found[0].relative_to(ROOT)) if found else "labs/README.md"


def selected(all_regions: list[dict], wanted: list[str]) -> tuple[list[dict], list[str]]:
    """The regions named by labNN or labNN:name; and the names that match none."""
    chosen, unknown = [], []
    for w in wanted:
        hits = [r for r in all_regions if r["key"] == w or r["key"].split(":")[0] == w]
        if hits:
            chosen += [r for r in hits if r not in chosen]
        else:
            unknown.append(w)
    return chosen, unknown


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--require", nargs="+", metavar="LAB",
                    help="labNN or labNN:name that must be written; exit 3 if one is the stub")
    ap.add_argument("--for", dest="purpose", default="this check",
                    help="what needs them, for the message (e.g. 'week 13's checks')")
    ap.add_argument("--json", action="store_true", help="print the list as JSON")
    args = ap.parse_args()

    all_regions = regions()
    if args.require:
        chosen, unknown = selected(all_regions, args.require)
        if unknown:
            print(f"regions: no lab region matches {', '.join(unknown)}", file=sys.stderr)
            return 2
        stubs = [r for r in chosen if r["status"] == "stub"]
        for r in stubs:
            print(f"regions: {args.purpose} need [{r['key']}] ({r['file']}:{r['line']}), "
                  f"still the stub: write it first ({r['readme']})")
        return EXIT_STUB if stubs else 0
    if args.json:
        print(json.dumps([{k: r[k] for k in ("key", "file", "line", "status", "readme")}
                          for r in all_regions], indent=1))
        return 0
    for r in all_regions:
        print(f"{r['key']:32} {r['file']}:{r['line']:<5} {r['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
