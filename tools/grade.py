#!/usr/bin/env python3
"""grade.py: run one stage's tests, write JUnit XML and a Gradescope results.json.

    tools/grade.py --stage N [--build build/debug] [--bin SERVER] [--client CLIENT]
                   [--out build/grade/stageN]

Without --bin it runs every test labelled exactly `stageN` in the build (the
stage's unit tests, its black-box suites and its lab checks), the same set as
`ctest -L '^stageN$'`, against the code in that build: grade a student by running
it in the student's tree. With --bin it runs only the black-box (integration)
tests, against the given binary: SERVERLAB_SERVER_BIN for the HTTP stages,
SERVERLAB_ECHO_SERVER (and SERVERLAB_ECHO_CLIENT with --client) for stage 1.

How: the stage's build fixture (`build:stageN` and any other the tests require)
runs first, so nothing stale is graded. Then each test is run as ctest would run
it (its command, ENVIRONMENT, WORKING_DIRECTORY and TIMEOUT, from
`ctest --show-only=json-v1`), with GTEST_OUTPUT=xml:... for GoogleTest binaries and
`-r junit` for the Catch2 lab checks, so every test case has a result.

Scoring: one point per test case that ran; a skipped case counts for nothing. A
group is one GoogleTest suite of one binary (or one lab check). A binary that
crashed or timed out before writing its report loses every case it lists.
Outputs, in --out: junit.xml (all cases), results.json (Gradescope format: a score
per group with the failure messages visible), xml/ (each binary's own report),
logs/ (each binary's output). Exit status: 0 when grading ran (whatever the
score), 2 when it could not (no build directory, ctest missing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

MAX_OUTPUT = 4000  # characters of failure text kept per group in results.json


@dataclass
class Case:
    name: str
    passed: bool
    skipped: bool = False
    message: str = ""


@dataclass
class Group:
    name: str
    cases: list[Case] = field(default_factory=list)
    note: str = ""  # crash/timeout/build failure, shown before the case messages

    @property
    def max_score(self) -> int:
        return sum(1 for c in self.cases if not c.skipped)

    @property
    def score(self) -> int:
        return sum(1 for c in self.cases if c.passed and not c.skipped)


def ctest_tests(build: Path, stage: str) -> list[dict]:
    out = subprocess.run(["ctest", "--test-dir", str(build), "-L", f"^{stage}$",
                          "--show-only=json-v1"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout).get("tests", [])


def prop(test: dict, name: str, default=None):
    for p in test.get("properties", []):
        if p["name"] == name:
            return p["value"]
    return default


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def run(label: str, cmd: list[str], env: dict, cwd: str | None, timeout: float,
        log: Path) -> tuple[int, str]:
    """Runs one command; returns (status, output). Status 124 means it timed out."""
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        rc, output = p.returncode, p.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        rc = 124
        output = (e.stdout or b"").decode(errors="replace") + f"\n[timed out after {timeout:.0f} s]"
    log.write_text(output)
    output = clean(output)
    print(f"  {'ok  ' if rc == 0 else 'FAIL'} {label:44} "
          f"{time.monotonic() - start:6.1f} s", flush=True)
    return rc, output


# Bytes XML 1.0 forbids (a failure message may quote raw test data).
_NOT_XML = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def clean(text: str) -> str:
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "?", text)


def parse_xml(report: Path) -> ET.Element:
    return ET.fromstring(_NOT_XML.sub(b"?", report.read_bytes()))


def gtest_cases(report: Path, test: str) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    root = parse_xml(report)
    for suite in root.iter("testsuite"):
        g = groups.setdefault(suite.get("name", "?"), Group(f"{test} / {suite.get('name')}"))
        for tc in suite.iter("testcase"):
            failures = [f.get("message", "") or (f.text or "") for f in tc.findall("failure")]
            failures += [e.get("message", "") for e in tc.findall("error")]
            skipped = tc.get("result") == "skipped" or tc.find("skipped") is not None \
                or tc.get("status") == "notrun"
            g.cases.append(Case(tc.get("name", "?"), passed=not failures and not skipped,
                                skipped=skipped and not failures,
                                message="\n".join(failures)))
    return groups


def catch2_cases(report: Path, test: str) -> dict[str, Group]:
    g = Group(test)
    root = parse_xml(report)
    for tc in root.iter("testcase"):
        failures = [(f.get("message", "") + "\n" + (f.text or "")).strip()
                    for f in tc.findall("failure") + tc.findall("error")]
        g.cases.append(Case(tc.get("name", "?"), passed=not failures, message="\n".join(failures)))
    return {test: g}


def listed_cases(cmd: list[str], catch2: bool, env: dict, cwd: str | None) -> list[str]:
    """The case names a binary would run, for when it died before reporting."""
    args = ["--list-test-names-only"] if catch2 else ["--gtest_list_tests"]
    try:
        out = subprocess.run(cmd[:1] + args, env=env, cwd=cwd, capture_output=True, text=True,
                             timeout=30).stdout
    except (subprocess.TimeoutExpired, OSError):
        return []
    if catch2:
        return [line.strip() for line in out.splitlines() if line.strip()]
    names, suite = [], ""
    for line in out.splitlines():
        if not line.strip() or line.startswith("Running main"):
            continue
        if not line.startswith(" "):
            suite = line.strip().split()[0]
        else:
            names.append(suite + line.strip().split()[0])
    return names


def write_junit(groups: list[Group], path: Path) -> None:
    suites = ET.Element("testsuites", name="serverlab-grade")
    for g in groups:
        s = ET.SubElement(suites, "testsuite", name=g.name, tests=str(len(g.cases)),
                          failures=str(sum(1 for c in g.cases if not c.passed and not c.skipped)),
                          skipped=str(sum(1 for c in g.cases if c.skipped)))
        for c in g.cases:
            tc = ET.SubElement(s, "testcase", name=c.name, classname=g.name)
            if c.skipped:
                ET.SubElement(tc, "skipped")
            elif not c.passed:
                f = ET.SubElement(tc, "failure", message=(c.message or g.note)[:500])
                f.text = c.message or g.note
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def group_output(g: Group) -> str:
    parts = [g.note] if g.note else []
    for c in g.cases:
        if not c.passed and not c.skipped:
            parts.append(f"FAILED {c.name}\n{c.message}".rstrip())
    skipped = [c.name for c in g.cases if c.skipped]
    if skipped:
        parts.append("skipped (not scored): " + ", ".join(skipped))
    text = "\n\n".join(parts) or "all passed"
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT] + "\n[... truncated]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stage", required=True, help="1..5 (or a label such as stage3, labs)")
    ap.add_argument("--build", default="build/debug", type=Path)
    ap.add_argument("--bin", help="the server binary to grade (black-box tests only)")
    ap.add_argument("--client", help="stage 1: the echo client binary to grade")
    ap.add_argument("--out", type=Path, help="default: build/grade/<stage>")
    args = ap.parse_args()

    stage = args.stage if not args.stage.isdigit() else f"stage{args.stage}"
    build = args.build.resolve()
    if not (build / "CTestTestfile.cmake").exists():
        print(f"grade: {build} is not a configured build (run `make configure` first)",
              file=sys.stderr)
        return 2
    if shutil.which("ctest") is None:
        print("grade: ctest not found", file=sys.stderr)
        return 2
    out = (args.out or Path("build/grade") / stage).resolve()
    shutil.rmtree(out, ignore_errors=True)
    (out / "xml").mkdir(parents=True)
    (out / "logs").mkdir()

    overrides: dict[str, str] = {}
    for flag, var in ((args.bin, "bin"), (args.client, "client")):
        if flag and not os.access(flag, os.X_OK):
            print(f"grade: --{var} {flag} is not an executable", file=sys.stderr)
            return 2
    if args.bin:
        binary = str(Path(args.bin).resolve())
        if stage == "stage1":
            overrides["SERVERLAB_ECHO_SERVER"] = binary
        else:
            overrides["SERVERLAB_SERVER_BIN"] = binary
    if args.client:
        overrides["SERVERLAB_ECHO_CLIENT"] = str(Path(args.client).resolve())

    print(f"== grading {stage} in {build}" + (f" against {args.bin}" if args.bin else ""))
    groups: list[Group] = []

    # 1. Build fixtures: everything the selected tests need, before any of them runs.
    setups = [t for t in ctest_tests(build, stage) if prop(t, "FIXTURES_SETUP")]
    build_ok = True
    for t in setups:
        rc, output = run(t["name"], t["command"], dict(os.environ), prop(t, "WORKING_DIRECTORY"),
                         float(prop(t, "TIMEOUT", 1800)), out / "logs" / f"{safe(t['name'])}.log")
        if rc != 0:
            build_ok = False
            groups.append(Group(t["name"], [Case("build", False, message=output[-MAX_OUTPUT:])],
                                note="the build failed: nothing else could be graded"))

    # 2. The tests, in ctest's order, each as ctest would run it.
    tests = [] if not build_ok else [t for t in ctest_tests(build, stage)
                                     if not prop(t, "FIXTURES_SETUP")]
    if args.bin:
        tests = [t for t in tests if "integration" in prop(t, "LABELS", [])]
    if build_ok and not tests:
        print(f"grade: no tests labelled {stage}" + (" and integration" if args.bin else ""),
              file=sys.stderr)
        return 2
    for t in tests:
        name, cmd = t["name"], list(t.get("command", []))
        labels = prop(t, "LABELS", [])
        env = dict(os.environ)
        for kv in prop(t, "ENVIRONMENT", []) or []:
            k, _, v = kv.partition("=")
            env[k] = v
        env.update(overrides)
        report = out / "xml" / f"{safe(name)}.xml"
        catch2 = "labs" in labels
        if catch2:
            cmd += ["-r", "junit", "-o", str(report)]
        else:
            env["GTEST_OUTPUT"] = f"xml:{report}"
        cwd = prop(t, "WORKING_DIRECTORY")
        if not cmd:
            groups.append(Group(name, [Case("run", False)], note="no command (not built?)"))
            continue
        rc, output = run(name, cmd, env, cwd, float(prop(t, "TIMEOUT", 1500)),
                         out / "logs" / f"{safe(name)}.log")
        found: dict[str, Group] = {}
        if report.exists() and report.stat().st_size > 0:
            try:
                found = catch2_cases(report, name) if catch2 else gtest_cases(report, name)
            except ET.ParseError:
                found = {}
        failed = sum(g.max_score - g.score for g in found.values())
        if rc != 0 and failed == 0:
            # It died (crash, sanitizer abort, timeout) before reporting a failure: every case
            # it lists is lost, with the tail of its output as the reason.
            why = "timed out" if rc == 124 else f"exited with status {rc}"
            tail = output[-MAX_OUTPUT // 2:]
            names = listed_cases(cmd, catch2, env, cwd) or ["(the whole binary)"]
            found = {name: Group(name, [Case(n, False) for n in names],
                                 note=f"{name} {why} before reporting; output tail:\n{tail}")}
        groups.extend(found.values())

    # 3. Reports.
    write_junit(groups, out / "junit.xml")
    total = sum(g.score for g in groups)
    possible = sum(g.max_score for g in groups)
    results = {
        "score": total,
        "max_score": possible,
        "visibility": "visible",
        "stdout_visibility": "visible",
        "output": f"{stage}: {total}/{possible} test cases passed"
                  + (f" (binary: {Path(args.bin).name})" if args.bin else ""),
        "tests": [{
            "name": g.name,
            "score": g.score,
            "max_score": g.max_score,
            "status": "passed" if g.score == g.max_score and not g.note else "failed",
            "output": group_output(g),
            "visibility": "visible",
        } for g in groups],
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    width = max([len(g.name) for g in groups] + [10])
    print(f"\n{'group':{width}}  score")
    print(f"{'-' * width}  ---------")
    for g in groups:
        mark = "" if g.score == g.max_score and not g.note else "  <-"
        print(f"{g.name:{width}}  {g.score:>3}/{g.max_score:<3}{mark}")
    print(f"{'-' * width}  ---------")
    pct = 100.0 * total / possible if possible else 0.0
    print(f"{'TOTAL':{width}}  {total:>3}/{possible:<3}  ({pct:.1f}%)")
    print(f"\nwrote {out}/results.json, {out}/junit.xml (per-binary reports in {out}/xml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
