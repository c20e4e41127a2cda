#!/usr/bin/env python3
"""check-commands.py: the commands the handouts give must run as written.

    tools/check-commands.py --tree DIR --kind reference|starter [--list]

Extracts every shell command from the handouts (labs/README.md, labs/*/README.md):
the lines of fenced and indented code blocks, and inline `code` spans, that start
with make, ctest, cmake, labs/check-lab.sh or tools/. Each is classed by rule:

  run   cheap and non-interactive: make build / test / check / check-lab / grade,
        ctest with a preset or a test dir, labs/check-lab.sh, tools/deps.sh;
  skip  everything else, with the reason (another preset's full build, a benchmark,
        a server that runs until stopped, the fuzzer, make handout, a placeholder).

The runnable ones run in DIR (from its root, as a student would), each bounded by
CMD_LIMIT seconds (default 600). In the reference tree a ctest command is listed, not
run (`-N` appended): CI's first step has just run the whole suite, so what is left to
prove is that the preset, labels and patterns are valid and select at least one test.
For the same reason check-lab runs with CHECK_LAB_LIST=1 there: a week whose check is
its stage's suite lists it; a week with a lab check of its own still runs that check. A command fails this check when its output says
"No tests were found", make reports an unknown target ("No rule to make target"),
or it times out; in the reference tree it must also exit 0. In the starter tree
a failing check is expected (the labs are not written), so only those three count.
Ends with "N passed, N failed, N skipped" and exits 1 on any failure.
Instructor-only (tools/handout.py leaves it out of the starter tree).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTS = ("make", "ctest", "cmake", "labs/check-lab.sh", "tools/")
INLINE = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^\s*(```|~~~)")
BAD_OUTPUT = ("No tests were found", "No test configuration file found",
              "No rule to make target", "No test cases matched", "No tests ran",
              "Total Tests: 0")

# Commands a student runs that are too slow or interactive for CI, by rule: (pattern, why).
SKIP_RULES = [
    (r"<|\bN\b|stageN|weekNN|\.\.\.|\[", "a placeholder, not a literal command"),
    (r"^(ctest|make (check-lab|check|grade))$",
     "a name in the prose, not a command: it needs an argument (ctest: a preset)"),
    (r"^make (bench|fuzz|run|handout|format|tidy|tsan|coverage)\b",
     "long-running, interactive or instructor-only target"),
    (r"--preset (tsan|asan|release|coverage)|PRESET=(asan|tsan|release)",
     "a full build of another preset (CI runs asan and tsan in their own steps)"),
    (r"^tools/(fuzz|grade)\b|^tools/deps\.sh (bench|fuzz)", "a long-running tool"),
]
# In the reference tree CI's first step is `make test` itself.
REFERENCE_SKIP = (r"^make test$", "CI's first step runs it")
RUN_RULES = [
    r"^make (build|test|check|check-lab|grade)\b",
    r"^ctest\b",  # a bare ctest from the root finds no tests: this check must see it
    r"^labs/check-lab\.sh\b",
    r"^tools/deps\.sh( build)?$",
    r"^cmake --preset debug\b",
]
# make grade runs tools/grade.py, the grading side's: in the starter tree its behaviour on
# unwritten labs is its own business, and every stage suite would run there too.
# A whole stage suite in the starter tree runs servers on unwritten labs for minutes;
# labs/verify-starter.sh runs every week's check-lab there instead.
STARTER_SKIP = (r"^make (grade|test|check)(?!-)\b|^ctest\b",
                "a whole suite on the unwritten starter tree (labs/verify-starter.sh "
                "covers each week there)")


def handouts(tree: Path) -> list[Path]:
    return [tree / "labs" / "README.md"] + sorted((tree / "labs").glob("*/README.md"))


def commands(tree: Path) -> list[tuple[str, str]]:
    """(command, where) for every command-looking line or span, first occurrence only."""
    seen: dict[str, str] = {}
    for readme in handouts(tree):
        fenced = False
        for number, line in enumerate(readme.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{readme.relative_to(tree)}:{number}"
            if FENCE.match(line):
                fenced = not fenced
                continue
            candidates = []
            if fenced or line.startswith("    "):
                candidates.append(line.split("  #")[0].strip())
            candidates += [m.strip() for m in INLINE.findall(line)]
            for c in candidates:
                for part in re.split(r"\s+&&\s+|;\s+", c):
                    part = part.strip()
                    if part.startswith(STARTS) and part not in seen:
                        seen[part] = where
    return list(seen.items())


def classify(cmd: str, kind: str) -> tuple[str, str]:
    if kind == "starter" and re.search(STARTER_SKIP[0], cmd):
        return "skip", STARTER_SKIP[1]
    if kind == "reference" and re.search(REFERENCE_SKIP[0], cmd):
        return "skip", REFERENCE_SKIP[1]
    for pattern, why in SKIP_RULES:
        if re.search(pattern, cmd):
            return "skip", why
    if any(re.search(p, cmd) for p in RUN_RULES):
        return "run", ""
    return "skip", "not on the list of cheap commands"


def run(tree: Path, cmd: str, kind: str, limit: int) -> tuple[bool, str, float]:
    env = dict(os.environ, CHECK_LAB_TIMEOUT=str(limit - 30))
    if kind == "reference":
        # List, do not run, the suites: the first CI step has just run them all.
        if cmd.startswith("ctest"):
            cmd += " -N"
        env["CHECK_LAB_LIST"] = "1"  # check-lab's stage-suite weeks: ctest -N
    start = time.monotonic()
    # A session of its own, so a command that times out is stopped with all it started.
    p = subprocess.Popen(["bash", "-c", cmd], cwd=tree, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                         env=env, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return False, f"timed out after {limit} s", time.monotonic() - start
    took = time.monotonic() - start
    for bad in BAD_OUTPUT:
        if bad in out:
            return False, f"printed '{bad}' (exit {p.returncode})", took
    if kind == "reference" and p.returncode != 0:
        tail = "\n".join("      | " + l for l in out.strip().splitlines()[-12:])
        return False, f"exit {p.returncode} in the reference tree\n{tail}", took
    return True, f"exit {p.returncode}", took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", type=Path, default=ROOT)
    ap.add_argument("--kind", choices=("reference", "starter"), default="reference")
    ap.add_argument("--list", action="store_true", help="classify only; run nothing")
    args = ap.parse_args()
    tree = args.tree.resolve()
    limit = int(os.environ.get("CMD_LIMIT", "600"))
    passed = failed = skipped = 0
    print(f"== handout commands in the {args.kind} tree {tree}")
    for cmd, where in commands(tree):
        verdict, why = classify(cmd, args.kind)
        if verdict == "skip":
            skipped += 1
            print(f"  skip  {cmd}    ({why}; {where})")
            continue
        if args.list:
            print(f"  run   {cmd}    ({where})")
            continue
        ok, detail, took = run(tree, cmd, args.kind, limit)
        passed += ok
        failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'}  {cmd}    ({took:.0f} s, {detail}; {where})",
              flush=True)
    print(f"check-commands: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
