#!/usr/bin/env python3
"""handout.py: write the student starter tree from the reference tree.

The reference code marks each part a student writes with paired comments:

    // [lab02:read-n:begin]
    // [lab02:read-n:stub] (void)fd;
    // [lab02:read-n:stub] return IoResult::fail(ENOSYS, done);
    ...the reference solution...
    // [lab02:read-n:end]

In the handout every region keeps its begin/end anchors (the lab READMEs point at
them) and its body becomes the stub lines, uncommented: code that compiles
warning-free under -Werror and fails that lab's checks.

    tools/handout.py [--out DIR] [--labs lab02,lab08] [--force]
    tools/handout.py --check     validate the markers, and that the handouts (labs/README.md,
                                 labs/*/README.md) cite exactly the regions the code has:
                                 every cited [labNN:name] exists, every region is cited by
                                 its week's README (no tree written)
    tools/handout.py --list      print every region as labNN:name file:line

The files copied are the ones git knows about (tracked, plus untracked files that
are not ignored), so build directories and editor files never leak into the tree;
the instructor-only files (INSTRUCTOR_ONLY below) are left out. The tree gets
labs/stubs.json, each region's stub, which labs/regions.py compares bodies with.
A marker that is not paired (begin without end, end without begin, a region
opened inside another, a name used twice, a stub line outside a region, a region
without a stub) is an error: nothing is written and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SOURCE_SUFFIXES = {".cpp", ".hpp", ".h", ".cc", ".ipp"}

# Instructor-only files: the solutions' guide, the tools that make and verify the starter
# tree from the reference, and CI (it runs those tools). The starter tree still builds, and
# its `make check-lab`, `make test` and `make grade` work without them.
INSTRUCTOR_ONLY = (
    "docs/INSTRUCTORS.md",
    "tools/handout.py",
    "tools/check-commands.py",
    "labs/verify-handout.sh",
    "labs/verify-starter.sh",
    ".ci/",
)

# Written into the starter tree: each region's stub, so labs/regions.py can tell a region
# the student has not touched yet from one they have written.
STUBS_FILE = "labs/stubs.json"

# Where the handouts cite anchors: `[lab03:request-line]`.
HANDOUTS_GLOB = ("labs/README.md", "labs/*/README.md")
CITED = re.compile(r"\[(lab\d\d):([a-z0-9-]+)(?::(?:begin|end|stub))?\]")
MARKER = re.compile(r"^(?P<indent>\s*)//\s*\[(?P<lab>lab\d\d):(?P<name>[a-z0-9-]+):"
                    r"(?P<kind>begin|end|stub)\](?P<rest>.*)$")


class MarkerError(Exception):
    pass


@dataclass
class Region:
    lab: str
    name: str
    path: str
    begin: int  # 1-based line numbers of the anchors
    end: int = 0
    stub: list[str] = field(default_factory=list)  # stub code, already indented

    @property
    def key(self) -> str:
        return f"{self.lab}:{self.name}"


def scan(path: str, text: str) -> list[Region]:
    """Returns the regions of one file, or raises MarkerError naming the line."""
    regions: list[Region] = []
    open_region: Region | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        m = MARKER.match(line)
        if not m:
            continue
        where = f"{path}:{number}"
        lab, name, kind = m["lab"], m["name"], m["kind"]
        key = f"{lab}:{name}"
        if kind == "begin":
            if open_region:
                raise MarkerError(f"{where}: [{key}:begin] inside the open region "
                                  f"[{open_region.key}] (line {open_region.begin})")
            open_region = Region(lab, name, path, number)
        elif kind == "stub":
            if not open_region or open_region.key != key:
                raise MarkerError(f"{where}: [{key}:stub] outside its region")
            code = m["rest"][1:] if m["rest"].startswith(" ") else m["rest"]
            open_region.stub.append(m["indent"] + code if code.strip() else "")
        else:
            if not open_region:
                raise MarkerError(f"{where}: [{key}:end] without a begin")
            if open_region.key != key:
                raise MarkerError(f"{where}: [{key}:end] closes [{open_region.key}] "
                                  f"opened at line {open_region.begin}")
            if not open_region.stub:
                raise MarkerError(f"{where}: region [{key}] has no stub line "
                                  f"(add '// [{key}:stub] <code>' after its begin)")
            open_region.end = number
            regions.append(open_region)
            open_region = None
    if open_region:
        raise MarkerError(f"{path}:{open_region.begin}: [{open_region.key}:begin] "
                          f"is never closed")
    return regions


def week_readme(root: Path, lab: str) -> str:
    """labs/weekNN-topic/README.md for labNN, or labs/README.md when there is none."""
    found = sorted((root / "labs").glob(f"week{lab[3:]}-*/README.md"))
    return str(found[0].relative_to(root)) if found else "labs/README.md"


def rewrite(text: str, regions: list[Region], only: set[str] | None, root: Path) -> str:
    """Replaces each selected region's body with its stub."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    by_begin = {r.begin: r for r in regions}
    skip_until = 0
    for number, line in enumerate(lines, start=1):
        if number <= skip_until and number != skip_until:
            continue
        region = by_begin.get(number)
        if region and (only is None or region.lab in only or region.key in only):
            indent = MARKER.match(line)["indent"]
            out.append(line)
            out.append(f"{indent}// TODO({region.lab}): write this part "
                       f"({week_readme(root, region.lab)}).\n")
            out.extend(s + "\n" for s in region.stub)
            skip_until = region.end  # the end anchor itself is kept
            continue
        out.append(line)
    return "".join(out)


def project_files(root: Path) -> list[str]:
    listing = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True, capture_output=True).stdout.decode()
    return sorted({f for f in listing.split("\0") if f and (root / f).is_file()})


def instructor_only(f: str) -> bool:
    return any(f == x or (x.endswith("/") and f.startswith(x)) for x in INSTRUCTOR_ONLY)


def citations(root: Path) -> dict[str, set[str]]:
    """Every anchor each handout cites: README path -> {'labNN:name', ...}."""
    cited: dict[str, set[str]] = {}
    for pattern in HANDOUTS_GLOB:
        for readme in sorted(root.glob(pattern)):
            text = readme.read_text(encoding="utf-8")
            keys = {f"{m[1]}:{m[2]}" for m in CITED.finditer(text)}
            if keys:
                cited[str(readme.relative_to(root))] = keys
    return cited


def check_citations(root: Path, regions: list[Region]) -> list[str]:
    """Anchors cited by a handout but absent from the code, and regions their week's
    handout never cites. Each problem is one line naming the file to fix."""
    problems: list[str] = []
    known = {r.key: r for r in regions}
    cited = citations(root)
    for readme, keys in sorted(cited.items()):
        for key in sorted(keys - known.keys()):
            problems.append(f"{readme}: cites [{key}], which no region in the code defines")
    for r in regions:
        readme = week_readme(root, r.lab)
        if r.key not in cited.get(readme, set()):
            problems.append(f"{r.path}:{r.begin}: region [{r.key}] is not cited by its "
                            f"week's handout {readme}")
    return problems + check_syllabus_tags(root, regions)


SYLLABUS_ROW = re.compile(r"^\| \[(\d+)\]\(week(\d\d)-")
SYLLABUS_TAG = re.compile(r"`\[([a-z0-9-]+)\]`")


def check_syllabus_tags(root: Path, regions: list[Region]) -> list[str]:
    """The syllabus (labs/README.md) lists each lab week's Catch2 tags, which are the
    region names: every tag listed must tag a test case in labs/checks/weekNN_*.cpp,
    and every region must be listed in its week's row."""
    problems: list[str] = []
    syllabus = root / "labs" / "README.md"
    listed: dict[str, set[str]] = {}
    for line in syllabus.read_text(encoding="utf-8").splitlines():
        m = SYLLABUS_ROW.match(line)
        if not m:
            continue
        week = m[2]
        tags = set(SYLLABUS_TAG.findall(line))
        listed[week] = tags
        checks = "".join(p.read_text(encoding="utf-8")
                         for p in sorted((root / "labs" / "checks").glob(f"week{week}_*.cpp")))
        for tag in sorted(tags):
            if f"[{tag}]" not in checks:
                problems.append(f"labs/README.md: week {int(week)} lists the tag [{tag}], "
                                f"which no test case in labs/checks/week{week}_*.cpp carries")
    for r in regions:
        if r.name not in listed.get(r.lab[3:], set()):
            problems.append(f"labs/README.md: week {int(r.lab[3:])}'s row does not list the "
                            f"tag [{r.name}] of region [{r.key}]")
    return problems


def stubs_manifest(root: Path, regions: list[Region], only: set[str] | None) -> str:
    """labs/stubs.json for the starter tree: each stubbed region's stub and handout."""
    data = {r.key: {"file": r.path, "readme": week_readme(root, r.lab),
                    "stub": [s.strip() for s in r.stub if s.strip()]}
            for r in regions if only is None or r.lab in only or r.key in only}
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def collect(root: Path, files: list[str]) -> tuple[dict[str, list[Region]], list[str]]:
    regions: dict[str, list[Region]] = {}
    errors: list[str] = []
    seen: dict[str, Region] = {}
    for f in files:
        if Path(f).suffix not in SOURCE_SUFFIXES:
            continue
        text = (root / f).read_text(encoding="utf-8", errors="surrogateescape")
        if "[lab" not in text:
            continue
        try:
            found = scan(f, text)
        except MarkerError as e:
            errors.append(str(e))
            continue
        for r in found:
            if r.key in seen:
                first = seen[r.key]
                errors.append(f"{f}:{r.begin}: region [{r.key}] already defined at "
                              f"{first.path}:{first.begin}")
            seen[r.key] = r
        if found:
            regions[f] = found
    return regions, errors


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=root / "build" / "handout",
                    help="where to write the student tree (default: build/handout)")
    ap.add_argument("--labs", default="",
                    help="comma-separated labNN or labNN:name to stub (default: all)")
    ap.add_argument("--force", action="store_true", help="replace --out if it exists")
    ap.add_argument("--check", action="store_true", help="only validate the markers")
    ap.add_argument("--list", action="store_true", help="list the regions and exit")
    args = ap.parse_args()

    files = project_files(root)
    regions, errors = collect(root, files)
    if errors:
        for e in errors:
            print(f"handout: {e}", file=sys.stderr)
        print("handout: refusing to write a tree with unpaired lab markers", file=sys.stderr)
        return 1
    all_regions = sorted((r for rs in regions.values() for r in rs), key=lambda r: r.key)
    if args.list:
        for r in all_regions:
            print(f"{r.key:34} {r.path}:{r.begin}-{r.end}")
        return 0
    if args.check:
        problems = check_citations(root, all_regions)
        for p in problems:
            print(f"handout: {p}", file=sys.stderr)
        if problems:
            print(f"handout: {len(all_regions)} regions, markers paired, but {len(problems)} "
                  f"anchor(s) disagree between the handouts and the code", file=sys.stderr)
            return 1
        print(f"handout: {len(all_regions)} regions, markers paired, every anchor the handouts "
              f"cite exists and every region is cited by its week's handout")
        return 0

    only = {x.strip() for x in args.labs.split(",") if x.strip()} or None
    if only:
        known = {r.lab for r in all_regions} | {r.key for r in all_regions}
        unknown = sorted(only - known)
        if unknown:
            print(f"handout: unknown lab(s): {', '.join(unknown)}", file=sys.stderr)
            return 2

    out = args.out.resolve()
    if out == root or root in out.parents and not out.is_relative_to(root / "build"):
        print(f"handout: --out must be outside the source tree or under build/: {out}",
              file=sys.stderr)
        return 2
    if out.exists():
        if not args.force:
            print(f"handout: {out} exists (use --force to replace it)", file=sys.stderr)
            return 2
        shutil.rmtree(out)

    stubbed = 0
    left_out = [f for f in files if instructor_only(f)]
    files = [f for f in files if not instructor_only(f)]
    for f in files:
        src, dst = root / f, out / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        if f in regions:
            text = src.read_text(encoding="utf-8", errors="surrogateescape")
            dst.write_text(rewrite(text, regions[f], only, root), encoding="utf-8",
                           errors="surrogateescape")
            shutil.copymode(src, dst)
            stubbed += sum(1 for r in regions[f]
                           if only is None or r.lab in only or r.key in only)
        elif src.is_symlink():
            dst.symlink_to(src.readlink())
        else:
            shutil.copy2(src, dst)
    (out / STUBS_FILE).write_text(stubs_manifest(root, all_regions, only), encoding="utf-8")
    print(f"handout: wrote {out} ({len(files)} files, {stubbed} regions stubbed; "
          f"instructor-only, left out: {', '.join(left_out) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
