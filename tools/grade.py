#!/usr/bin/env python3
"""grade.py: run one stage's tests, write JUnit XML and a Gradescope results.json.

    tools/grade.py --stage N [--build build/debug] [--bin SERVER] [--client CLIENT]
                   [--out build/grade/stageN] [--only REGEX] [--timeout S] [--no-build]

What runs. Without --bin: every test labelled exactly `stageN` (the stage's unit
tests, its black-box suites and its lab checks, the set `ctest -L '^stageN$'` runs)
plus the common unit tests of the student code the stage builds on (EXTRA_TESTS:
stage 1 adds common_rio_test and common_framing_test), against the code in that
build: grade a student by running it in the student's tree. With --bin: only the
black-box tests (label `integration`), and every one of them starts the given
binary: grade.py sets SERVERLAB_SERVER_BIN (and SERVERLAB_CLIENT_BIN with --client),
which every suite's server_binary() (tests/support/server_process.hpp) puts before
its own variable. Each suite logs the servers it starts ($SERVERLAB_STARTED_LOG);
a suite that started anything else is reported and grading exits 2.

How. The build fixtures run first (`build:stageN` and any other the tests need;
--no-build skips them), so nothing stale is graded. Each test then runs as ctest
would run it (command, ENVIRONMENT, WORKING_DIRECTORY, TIMEOUT from
`ctest --show-only=json-v1`; --timeout caps it), with GTEST_OUTPUT=xml:... for
GoogleTest and `-r junit` for the Catch2 lab checks, in its own process group: when
it ends, times out or reaches a lab stub, the whole group is SIGKILLed, so no
server outlives its suite. A line `serverlab: [labNN:name] is still the stub: ...`
in a suite's output (lab_stub_reached(), common/include/serverlab/lab_stub.hpp)
stops that suite at once; the summary names the region.

Scoring. A group is one ctest test (one suite binary, one lab check) and is worth
the weight WEIGHTS gives it (the stage README's "Grading" table states the same
numbers): score = weight x passed / scored cases. A skipped case is scored as lost
(a server that lacks a feature earns nothing for its tests), except an
environmental skip (ENVIRONMENTAL_SKIP: running as root, a descriptor limit), and
the skips NOT_APPLICABLE excuses for one registration (stage 2's close variant
runs without keep-alive). A binary that crashed, timed out or hit a stub before
writing its report loses every case it lists. Each failing group names the lab
regions most likely at fault (REGION_HINTS).

Outputs, in --out: junit.xml (all cases), results.json (Gradescope format: a score
and maximum per group, failures and hints visible), xml/ (each binary's report),
logs/ (each binary's output). Exit status: 0 when grading ran (whatever the
score), 2 when it could not (no build directory, ctest missing, a bad --bin, a
suite that did not start the graded binary).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

MAX_OUTPUT = 4000  # characters of failure text kept per group in results.json

# Points per group, per stage; each stage sums to 100. The stage READMEs' "Grading"
# sections state the same table (tools/tests/grade_test.py checks they agree). A test
# the table does not list is run and reported but worth nothing (the summary says so).
WEIGHTS: dict[str, dict[str, int]] = {
    "stage1": {
        "stage1_echo_bytes_test": 15,
        "stage1_echo_framing_test": 15,
        "stage1_echo_concurrency_test": 15,
        "stage1_echo_lifecycle_test": 10,
        "stage1_echo_client_test": 10,
        "lab_week02": 15,
        "common_rio_test": 10,
        "common_framing_test": 10,
    },
    "stage2": {
        "http_conformance:stage2": 35,
        "http_conformance:stage2-close": 15,
        "stage2_http_seq_test": 20,
        "lab_week03": 15,
        "lab_week04": 15,
    },
    "stage3": {
        "http_conformance:stage3": 30,
        "stage3_http_threadpool_test": 30,
        "stage3_bounded_queue_test": 10,
        "stage3_thread_pool_test": 10,
        "lab_week08": 20,
    },
    "stage4": {
        "http_conformance:stage4": 20,
        "http_conformance:stage4-et": 15,
        "stage4_http_epoll_test": 25,
        "stage4_alloc_test": 5,
        "stage4_timer_heap_test": 5,
        "stage4_event_loop_test": 10,
        "stage4_session_pool_test": 5,
        "lab_week11": 10,
        "lab_week12": 5,
    },
    "stage5": {
        "http_conformance:stage5": 15,
        "http_conformance:stage5-shared": 10,
        "http_conformance:stage5-reuseport": 10,
        "stage5_http_prefork_test": 20,
        "stage5_master_test": 5,
        "stage5_fd_passing_test": 10,
        "stage5_scoreboard_test": 10,
        "lab_week14": 10,
        "lab_week15": 5,
        "lab_week16": 5,
    },
}

# Unit tests outside the stage label that test student code the stage depends on
# (built from the student's tree, so never run with --bin).
EXTRA_TESTS: dict[str, list[str]] = {
    "stage1": ["common_rio_test", "common_framing_test"],
}

# A skip that says the machine, not the server, cannot run the case: not scored.
# New tests should start such a message with "environment:".
# (GoogleTest puts "file:line" on the message's first line, the reason on the next.)
ENVIRONMENTAL_SKIP = re.compile(r"^environment:|\bas root\b|ulimit|no IPv6",
                                re.IGNORECASE | re.MULTILINE)

# Skips one registration expects by design (test name -> message pattern): not scored.
NOT_APPLICABLE: dict[str, re.Pattern] = {
    # http-seq started without --keep-alive closes every connection on purpose.
    "http_conformance:stage2-close": re.compile(r"Connection: close"),
}

# Where a failure most likely comes from: (test name, GoogleTest suite) patterns -> lab
# regions, most likely first. A name may be a region ("lab04:safe-path") or a week
# ("lab03": every lab03 region in the tree); a region the tree does not have stands for
# its week's regions (so a renamed or split region still resolves).
REGION_HINTS: list[tuple[str, str, list[str]]] = [
    (r"^common_rio_test$", r"", ["lab02:read-n", "lab02:write-n", "lab02:read-line"]),
    (r"^common_framing_test$", r"", ["lab02:read-frame"]),
    (r"^stage1_echo_framing_test$", r"", ["lab02:read-line", "lab02:read-frame",
                                          "lab02:write-n"]),
    (r"^stage1_", r"", ["lab02:read-n", "lab02:write-n", "lab02:read-line",
                        "lab02:read-frame"]),
    (r"^http_conformance", r"^Traversal", ["lab04:safe-path", "lab04:serve-static"]),
    (r"^http_conformance", r"^(Smuggling|DefaultLimits|ConfiguredLimits|Methods)$",
     ["lab03"]),
    (r"^http_conformance", r"^(Static|Mime|Ranges|Conditional|Directories|AutoindexOff"
                           r"|ErrorPages)$", ["lab04:serve-static", "lab04:safe-path"]),
    (r"^http_conformance:stage4", r"^(Connections|KeepAliveLimit|Timeouts)$",
     ["lab11:event-loop-dispatch", "lab12:buffer-make-space", "lab03"]),
    (r"^http_conformance:stage3", r"^(Connections|KeepAliveLimit|Timeouts)$",
     ["lab08:bounded-queue-pop", "lab03"]),
    (r"^http_conformance", r"^(Connections|KeepAliveLimit|Timeouts)$", ["lab03"]),
    (r"^http_conformance", r"", ["lab03", "lab04:serve-static"]),
    (r"^stage2_", r"", ["lab03", "lab04:serve-static", "lab04:safe-path"]),
    (r"^stage3_", r"", ["lab08:bounded-queue-push", "lab08:bounded-queue-pop"]),
    (r"^stage4_", r"", ["lab11:event-loop-dispatch", "lab12:buffer-make-space"]),
    (r"^stage5_", r"", ["lab14:send-fd", "lab14:recv-fd", "lab15:slot-update",
                        "lab16:least-loaded"]),
]
# Added after the matched regions for every black-box failure of the stage: its own labs.
STAGE_REGIONS: dict[str, list[str]] = {
    "stage3": ["lab08:bounded-queue-push", "lab08:bounded-queue-pop"],
    "stage4": ["lab11:event-loop-dispatch", "lab12:buffer-make-space"],
    "stage5": ["lab14:send-fd", "lab14:recv-fd", "lab15:slot-update", "lab16:least-loaded"],
}

# What lab_stub_reached() prints (common/src/lab_stub.cpp).
STUB_LINE = re.compile(r"serverlab: \[(lab\d\d:[A-Za-z0-9_-]+)\] is still the stub: [^\r\n]*")
REGION_BEGIN = re.compile(r"\[(lab\d\d:[A-Za-z0-9_-]+):begin\]")
LAB_STUB_EXIT = 70  # serverlab::kLabStubExit


@dataclass
class Case:
    suite: str
    name: str
    passed: bool
    scored: bool = True  # False: an environmental or not-applicable skip
    message: str = ""


@dataclass
class Group:
    name: str  # the ctest test
    weight: int
    cases: list[Case] = field(default_factory=list)
    note: str = ""  # crash/timeout/stub/build failure, shown before the case messages
    hints: list[str] = field(default_factory=list)
    weighted: bool = True

    @property
    def scored(self) -> int:
        return sum(1 for c in self.cases if c.scored)

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.scored and c.passed)

    @property
    def complete(self) -> bool:
        return self.passed == self.scored and not self.note

    @property
    def score(self) -> float:
        if self.scored == 0:
            return 0.0 if self.note else float(self.weight)
        return round(self.weight * self.passed / self.scored, 2)


# ---------------------------------------------------------------- ctest and the tree

def ctest_tests(build: Path, *selection: str) -> list[dict]:
    out = subprocess.run(["ctest", "--test-dir", str(build), *selection, "--show-only=json-v1"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout).get("tests", [])


def prop(test: dict, name: str, default=None):
    for p in test.get("properties", []):
        if p["name"] == name:
            return p["value"]
    return default


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def source_dir(build: Path) -> Path:
    """The tree the build was configured from (its lab regions are the hints' names)."""
    cache = build / "CMakeCache.txt"
    if cache.exists():
        for line in cache.read_text(errors="replace").splitlines():
            if line.startswith("CMAKE_HOME_DIRECTORY:"):
                return Path(line.split("=", 1)[1])
    return Path(__file__).resolve().parent.parent


def tree_regions(root: Path) -> list[str]:
    """Every `[labNN:name:begin]` region under common/ and stage*/, in file order."""
    found: list[str] = []
    for top in [root / "common", *sorted(root.glob("stage*"))]:
        for path in sorted(top.rglob("*")):
            if path.suffix not in (".cpp", ".hpp", ".h", ".cc") or \
                    "build" in path.relative_to(root).parts:
                continue
            for m in REGION_BEGIN.finditer(path.read_text(errors="replace")):
                if m.group(1) not in found:
                    found.append(m.group(1))
    return found


def resolve_regions(names: list[str], known: list[str]) -> list[str]:
    """Expands weeks ("lab03") and unknown regions to the tree's regions of that week."""
    out: list[str] = []
    for name in names:
        week = name.split(":")[0]
        if ":" in name and (name in known or not known):
            picks = [name]
        else:
            picks = [r for r in known if r.startswith(week + ":")] or [name]
        out += [p for p in picks if p not in out]
    return out


def hints_for(stage: str, test: str, suites: list[str], black_box: bool,
              known: list[str]) -> list[str]:
    names: list[str] = []
    for suite in suites or [""]:
        suite = suite.split("/")[-1]  # "Attempts/Traversal": a parameterised suite
        for test_re, suite_re, regions in REGION_HINTS:
            if re.search(test_re, test) and re.search(suite_re, suite):
                names += regions
                break
    m = re.match(r"^lab_week(\d\d)$", test)
    if m:
        names.append(f"lab{m.group(1)}")
    if black_box:
        names += STAGE_REGIONS.get(stage, [])
    return resolve_regions(names, known)


# ---------------------------------------------------------------- running one suite

@dataclass
class Run:
    status: int  # exit status; 124 timed out; LAB_STUB_EXIT stopped at a stub line
    output: str
    stubs: list[str]
    leftovers: bool  # processes of its group were still alive when it ended


def kill_group(pgid: int) -> bool:
    """SIGKILLs every process of the group; True if there was one to kill."""
    try:
        os.killpg(pgid, signal.SIGKILL)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def run(label: str, cmd: list[str], env: dict, cwd: str | None, timeout: float,
        log: Path) -> Run:
    """Runs one command in its own process group, its output teed to `log`.

    Stops it at the first lab-stub line or at the timeout, and always SIGKILLs its
    process group when it ends, so a server it started cannot outlive it."""
    start = time.monotonic()
    chunks: list[bytes] = []
    stubs: list[str] = []
    stub_seen = threading.Event()
    with open(log, "wb") as sink:
        try:
            p = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        except OSError as e:
            sink.write(f"cannot run {cmd[0]}: {e}\n".encode())
            print(f"  FAIL {label:44}   (cannot run: {e})", flush=True)
            return Run(127, f"cannot run {cmd[0]}: {e}", [], False)

        def pump() -> None:
            assert p.stdout is not None
            for line in iter(p.stdout.readline, b""):
                sink.write(line)
                chunks.append(line)
                m = STUB_LINE.search(line.decode(errors="replace"))
                if m and m.group(0) not in stubs:
                    stubs.append(m.group(0))
                    stub_seen.set()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        status = None
        while status is None:
            status = p.poll()
            if status is not None:
                break
            if stub_seen.wait(0.05):
                status = LAB_STUB_EXIT
            elif time.monotonic() - start > timeout:
                status = 124
        # After the test ended by itself, anything left in its group outlived it.
        ended_itself = p.returncode is not None
        leftovers = kill_group(p.pid) and ended_itself
        p.wait()
        reader.join(5)
        if status == 124:
            sink.write(f"\n[timed out after {timeout:.0f} s]\n".encode())
    output = clean(b"".join(chunks).decode(errors="replace"))
    if status == 124:
        output += f"\n[timed out after {timeout:.0f} s]"
    if status < 0:
        status = 128 - status  # killed by signal N -> 128+N, as a shell reports it
    why = "" if status == 0 else "  (timed out)" if status == 124 else \
        "  (stopped: a lab stub)" if stubs else ""
    print(f"  {'ok  ' if status == 0 else 'FAIL'} {label:44} "
          f"{time.monotonic() - start:6.1f} s{why}", flush=True)
    return Run(status, output, stubs, leftovers)


# ---------------------------------------------------------------- reading reports

# Bytes XML 1.0 forbids (a failure message may quote raw test data).
_NOT_XML = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def clean(text: str) -> str:
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "?", text)


def parse_xml(report: Path) -> ET.Element:
    return ET.fromstring(_NOT_XML.sub(b"?", report.read_bytes()))


def skip_case(suite: str, name: str, message: str, test: str) -> Case:
    """A skipped case: not scored if environmental or excused, else lost."""
    excused = NOT_APPLICABLE.get(test)
    if ENVIRONMENTAL_SKIP.search(message) or (excused and excused.search(message)):
        return Case(suite, name, passed=False, scored=False, message=f"skipped: {message}")
    return Case(suite, name, passed=False,
                message=f"skipped, scored as lost (a missing feature earns nothing): {message}")


def gtest_cases(report: Path, test: str) -> list[Case]:
    cases: list[Case] = []
    for suite in parse_xml(report).iter("testsuite"):
        sname = suite.get("name", "?")
        for tc in suite.iter("testcase"):
            failures = [f.get("message", "") or (f.text or "") for f in tc.findall("failure")]
            failures += [e.get("message", "") for e in tc.findall("error")]
            skip = tc.find("skipped")
            skipped = skip is not None or tc.get("result") == "skipped" \
                or tc.get("status") == "notrun"
            name = tc.get("name", "?")
            if skipped and not failures:
                message = (skip.get("message", "") if skip is not None else "") or "(no reason)"
                cases.append(skip_case(sname, name, message.strip(), test))
            else:
                cases.append(Case(sname, name, passed=not failures, message="\n".join(failures)))
    return cases


def catch2_cases(report: Path) -> list[Case]:
    cases: list[Case] = []
    for tc in parse_xml(report).iter("testcase"):
        failures = [(f.get("message", "") + "\n" + (f.text or "")).strip()
                    for f in tc.findall("failure") + tc.findall("error")]
        cases.append(Case("", tc.get("name", "?"), passed=not failures,
                          message="\n".join(failures)))
    return cases


def listed_cases(cmd: list[str], catch2: bool, env: dict, cwd: str | None) -> list[Case]:
    """The cases a binary would run, all lost, for when it died before reporting."""
    args = ["--list-test-names-only"] if catch2 else ["--gtest_list_tests"]
    try:
        out = subprocess.run(cmd[:1] + args, env=env, cwd=cwd, capture_output=True, text=True,
                             timeout=30, start_new_session=True).stdout
    except (subprocess.TimeoutExpired, OSError):
        return []
    if catch2:
        return [Case("", line.strip(), False) for line in out.splitlines() if line.strip()]
    cases, suite = [], ""
    for line in out.splitlines():
        if not line.strip() or line.startswith("Running main"):
            continue
        if not line.startswith(" "):
            suite = line.strip().split()[0].rstrip(".")
        else:
            cases.append(Case(suite, line.strip().split()[0], False))
    return cases


# ---------------------------------------------------------------- reports

def case_label(c: Case) -> str:
    return f"{c.suite}.{c.name}" if c.suite else c.name


def write_junit(groups: list[Group], path: Path) -> None:
    suites = ET.Element("testsuites", name="serverlab-grade")
    for g in groups:
        s = ET.SubElement(suites, "testsuite", name=g.name, tests=str(len(g.cases)),
                          failures=str(sum(1 for c in g.cases if not c.passed and c.scored)),
                          skipped=str(sum(1 for c in g.cases if not c.scored)))
        for c in g.cases:
            tc = ET.SubElement(s, "testcase", name=case_label(c), classname=g.name)
            if not c.scored:
                ET.SubElement(tc, "skipped", message=c.message[:500])
            elif not c.passed:
                f = ET.SubElement(tc, "failure", message=(c.message or g.note)[:500])
                f.text = c.message or g.note
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def hint_text(g: Group) -> str:
    return "likely at fault: " + " ".join(f"[{r}]" for r in g.hints) if g.hints else ""


def group_output(g: Group) -> str:
    parts = [f"{g.passed}/{g.scored} cases passed: {g.score:g} of {g.weight} points"]
    if not g.weighted:
        parts.append("not in the weight table (tools/grade.py WEIGHTS): worth no points")
    if not g.complete and g.hints:
        parts.append(hint_text(g))
    lost: dict[str, int] = {}
    for c in g.cases:
        if c.scored and not c.passed:
            lost[c.suite or g.name] = lost.get(c.suite or g.name, 0) + 1
    if lost:
        parts.append("lost cases: " + ", ".join(f"{k} ({n})" for k, n in lost.items()))
    if g.note:
        parts.append(g.note)
    for c in g.cases:
        if c.scored and not c.passed:
            parts.append(f"FAILED {case_label(c)}\n{c.message}".rstrip())
    excused = [case_label(c) for c in g.cases if not c.scored]
    if excused:
        parts.append("not scored (environmental or not applicable): " + ", ".join(excused))
    text = "\n\n".join(parts)
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT] + "\n[... truncated]"


def print_summary(groups: list[Group], stubs: list[str], problems: list[str]) -> tuple[float, int]:
    width = max([len(g.name) for g in groups] + [10])
    print(f"\n{'group':{width}}  {'cases':>9}  {'points':>13}")
    print(f"{'-' * width}  {'-' * 9}  {'-' * 13}")
    for g in groups:
        mark = "" if g.complete else "  <- " + (hint_text(g) or "lost points")
        print(f"{g.name:{width}}  {g.passed:>4}/{g.scored:<4}  {g.score:>6g}/{g.weight:<6}{mark}")
    total = round(sum(g.score for g in groups), 2)
    possible = sum(g.weight for g in groups)
    print(f"{'-' * width}  {'-' * 9}  {'-' * 13}")
    pct = 100.0 * total / possible if possible else 0.0
    print(f"{'TOTAL':{width}}  {'':9}  {total:>6g}/{possible:<6}  ({pct:.1f}%)")
    if stubs:
        print("\nunwritten lab regions reached (each stopped its suite):")
        for line in stubs:
            print(f"  {line}")
    for p in problems:
        print(f"\ngrade: {p}", file=sys.stderr)
    return total, possible


# ---------------------------------------------------------------- main

def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stage", required=True, help="1..5 (or a label such as stage3)")
    ap.add_argument("--build", default="build/debug", type=Path)
    ap.add_argument("--bin", help="the server binary to grade (black-box tests only)")
    ap.add_argument("--client", help="stage 1: the echo client binary to grade")
    ap.add_argument("--out", type=Path, help="default: build/grade/<stage>")
    ap.add_argument("--only", help="grade only the tests whose name matches this regex")
    ap.add_argument("--timeout", type=float,
                    help="seconds any one suite may run (default: its ctest TIMEOUT)")
    ap.add_argument("--no-build", action="store_true",
                    help="skip the build fixtures (the build is known to be up to date)")
    return ap.parse_args()


# Tests that carry a stage label but not the student's work: the starter tree's own stub,
# and the stages' client tools (code the course gives, no lab region). Never graded.
NOT_GRADED = {"stage4_dispatch_stub_test", "stage2_http_get_test", "stage4_port_scan_test"}
# Reload and configuration (docs/CONFIG.md): advanced-track features, not week 1-17 code.
NOT_GRADED |= {"config_reload:stage2", "config_reload:stage3", "config_reload:stage4",
               "config_reload:stage5", "config_examples", "config_docker"}
# HTTPS (issue 12): a feature of the servers, not of the student's week-1..17 code.
NOT_GRADED |= {"tls_servers:stage2", "tls_servers:stage3", "tls_servers:stage4",
               "tls_servers:stage4-et", "tls_servers:stage5", "http_conformance:stage2-tls",
               "http_conformance:stage3-tls", "http_conformance:stage4-tls",
               "http_conformance:stage5-tls"}
# The production features (issue 13, docs/MIDDLEWARE.md): common/'s advanced-track code.
NOT_GRADED |= {"http_features:stage2", "http_features:stage3", "http_features:stage4",
               "http_features:stage5"}
NOT_GRADED |= {"http_conn_limit:stage3", "http_conn_limit:stage4", "http_conn_limit:stage5"}
NOT_GRADED |= {"access_log:stage2", "access_log:stage3", "access_log:stage4",
               "access_log:stage5"}
# HTTP/2 (issue 17): a feature, not a week's code.
NOT_GRADED |= {"stage4_http2_test", "stage4_http2_et_test", "stage5_http2_test"}
NOT_GRADED |= {"stage4_http2_tls_test", "stage4_http2_tls_et_test", "stage5_http2_tls_test"}
# Stage 4's DeadlineTimer (shared by Connection and H2Connection): reference code, no lab region.
NOT_GRADED |= {"stage4_deadline_timer_test"}
# The client tools of issue 16 (chat-server, UDP and file tools, TLS echo, HTTPS in http-get).
NOT_GRADED |= {"stage4_chat_room_test", "stage4_chat_server_test", "stage1_udp_tools_test",
               "stage1_file_tools_test", "stage1_file_tools_slow_test", "stage1_echo_tls_test",
               "stage2_https_get_test"}


def select_tests(build: Path, stage: str, black_box: bool) -> list[dict]:
    tests = [t for t in ctest_tests(build, "-L", f"^{stage}$") if t["name"] not in NOT_GRADED]
    if not black_box:
        names = {t["name"] for t in tests}
        for extra in EXTRA_TESTS.get(stage, []):
            tests += [t for t in ctest_tests(build, "-R", f"^{re.escape(extra)}$")
                      if t["name"] not in names and not prop(t, "FIXTURES_SETUP")]
    return tests


BuildStep = tuple[str, list[str], "str | None"]  # name, command, working directory


def build_steps(build: Path, tests: list[dict], stage: str) -> list[BuildStep]:
    """The fixtures the selected tests need, plus a build of the extra tests' targets."""
    steps = [(t["name"], t["command"], prop(t, "WORKING_DIRECTORY"))
             for t in tests if prop(t, "FIXTURES_SETUP")]
    extra = [t["name"] for t in tests if t["name"] in EXTRA_TESTS.get(stage, [])]
    if extra:
        steps.append((f"build:{stage}-extras",
                      ["cmake", "--build", str(build), "--target", *extra], None))
    return steps


def main() -> int:
    args = parse_args()
    stage = args.stage if not args.stage.isdigit() else f"stage{args.stage}"
    build = args.build.resolve()
    if not (build / "CTestTestfile.cmake").exists():
        print(f"grade: {build} is not a configured build (run `make configure` first)",
              file=sys.stderr)
        return 2
    if shutil.which("ctest") is None:
        print("grade: ctest not found", file=sys.stderr)
        return 2
    for flag, name in ((args.bin, "bin"), (args.client, "client")):
        if flag and not (os.path.isfile(flag) and os.access(flag, os.X_OK)):
            print(f"grade: --{name} {flag} is not an executable", file=sys.stderr)
            return 2
    out = (args.out or Path("build/grade") / stage).resolve()
    shutil.rmtree(out, ignore_errors=True)
    for sub in ("xml", "logs", "started"):
        (out / sub).mkdir(parents=True)

    overrides: dict[str, str] = {}
    binary = str(Path(args.bin).resolve()) if args.bin else ""
    if binary:
        overrides["SERVERLAB_SERVER_BIN"] = binary
    if args.client:
        overrides["SERVERLAB_CLIENT_BIN"] = str(Path(args.client).resolve())

    print(f"== grading {stage} in {build}" + (f" against {binary}" if binary else ""))
    weights = WEIGHTS.get(stage, {})
    known = tree_regions(source_dir(build))
    groups: list[Group] = []
    stubs: list[str] = []
    problems: list[str] = []

    # 1. Build: everything the selected tests need, before any of them runs.
    selected = select_tests(build, stage, black_box=bool(binary))
    build_ok = True
    for name, cmd, cwd in ([] if args.no_build else build_steps(build, selected, stage)):
        r = run(name, cmd, dict(os.environ), cwd, 1800, out / "logs" / f"{safe(name)}.log")
        if r.status != 0:
            build_ok = False
            groups.append(Group(name, 0, [Case("", "build", False, message=r.output[-MAX_OUTPUT:])],
                                note="the build failed: nothing else could be graded"))

    # 2. The tests, in ctest's order, each as ctest would run it.
    tests = [t for t in selected if not prop(t, "FIXTURES_SETUP")] if build_ok else []
    if binary:
        tests = [t for t in tests if "integration" in prop(t, "LABELS", [])]
    if args.only:
        tests = [t for t in tests if re.search(args.only, t["name"])]
    if build_ok and not tests:
        print(f"grade: no tests to run for {stage}"
              + (" (label integration)" if binary else "")
              + (f" matching {args.only}" if args.only else ""), file=sys.stderr)
        return 2
    if not build_ok:
        # Nothing could run: every group the stage would have graded is lost.
        for t in selected:
            if not prop(t, "FIXTURES_SETUP") and (not args.only or re.search(args.only, t["name"])):
                groups.append(Group(t["name"], weights.get(t["name"], 0),
                                    [Case("", "(not run: the build failed)", False)],
                                    note="not run: the build failed"))
    for t in tests:
        g, reached = grade_one(t, stage, weights, binary, overrides, out, args.timeout, known)
        groups.append(g)
        stubs += [s for s in reached if s not in stubs]
        if binary:
            problem = check_started(out / "started" / f"{safe(g.name)}.txt", binary, g)
            if problem:
                problems.append(problem)

    # 3. Reports.
    write_junit(groups, out / "junit.xml")
    total, possible = print_summary(groups, stubs, problems)
    summary = f"{stage}: {total:g}/{possible} points" + (
        f" (binary: {Path(binary).name})" if binary else "")
    if stubs:
        summary += "\nunwritten lab regions reached:\n" + "\n".join(stubs)
    results = {
        "score": total,
        "max_score": possible,
        "visibility": "visible",
        "stdout_visibility": "visible",
        "output": summary,
        "tests": [{
            "name": g.name,
            "score": g.score,
            "max_score": g.weight,
            "status": "passed" if g.complete else "failed",
            "output": group_output(g),
            "visibility": "visible",
        } for g in groups],
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}/results.json, {out}/junit.xml (per-binary reports in {out}/xml)")
    return 2 if problems else 0


def grade_one(t: dict, stage: str, weights: dict[str, int], binary: str,
              overrides: dict[str, str], out: Path, cap: float | None,
              known: list[str]) -> tuple[Group, list[str]]:
    """Runs one test and turns its report (or its death) into a scored group; also
    returns the lab-stub lines its output carried."""
    name, cmd = t["name"], list(t.get("command", []))
    labels = prop(t, "LABELS", [])
    group = Group(name, weights.get(name, 0), weighted=name in weights)
    if not cmd:
        group.cases = [Case("", "run", False)]
        group.note = "no command (not built?)"
        return group, []
    env = dict(os.environ)
    for kv in prop(t, "ENVIRONMENT", []) or []:
        k, _, v = kv.partition("=")
        env[k] = v
    env.update(overrides)
    started = out / "started" / f"{safe(name)}.txt"
    env["SERVERLAB_STARTED_LOG"] = str(started)
    report = out / "xml" / f"{safe(name)}.xml"
    catch2 = "labs" in labels
    if catch2:
        cmd += ["-r", "junit", "-o", str(report)]
    else:
        env["GTEST_OUTPUT"] = f"xml:{report}"
    cwd = prop(t, "WORKING_DIRECTORY")
    timeout = float(prop(t, "TIMEOUT", 1500))
    if cap:
        timeout = min(timeout, cap)
    r = run(name, cmd, env, cwd, timeout, out / "logs" / f"{safe(name)}.log")

    cases: list[Case] = []
    if report.exists() and report.stat().st_size > 0:
        try:
            cases = catch2_cases(report) if catch2 else gtest_cases(report, name)
        except ET.ParseError:
            cases = []
    report_cases = bool(cases)
    failed = sum(1 for c in cases if c.scored and not c.passed)
    if r.status != 0 and failed == 0:
        # It died (crash, sanitizer abort, timeout, a lab stub) before reporting a
        # failure: every case it lists is lost, with the reason and its output's tail.
        why = ("reached a lab region that is still the stub" if r.stubs
               else "timed out" if r.status == 124 else f"exited with status {r.status}")
        cases = listed_cases(cmd, catch2, env, cwd) or [Case("", "(the whole binary)", False)]
        group.note = f"{name} {why} before reporting"
        if r.stubs:
            group.note += ":\n" + "\n".join(r.stubs)
        else:
            group.note += "; output tail:\n" + r.output[-MAX_OUTPUT // 2:]
    elif r.stubs:
        group.note = "a server reached a lab stub:\n" + "\n".join(r.stubs)
    if r.leftovers:
        group.note = (group.note + "\n" if group.note else "") + \
            "processes it started were still running when it ended (killed)"
    group.cases = cases
    failing = sorted({c.suite for c in cases if c.scored and not c.passed})
    if failing or group.note:
        black_box = "integration" in labels
        # Most likely first: a stub it reached; for a server suite that hung or died
        # before reporting, the stage's own labs (its concurrency model); then the map.
        first = [m.group(1) for s in r.stubs for m in [STUB_LINE.search(s)] if m]
        if black_box and r.status != 0 and not report_cases:
            first += STAGE_REGIONS.get(stage, [])
        first = resolve_regions(first, known)
        group.hints = first + [h for h in hints_for(stage, name, failing, black_box, known)
                               if h not in first]
    return group, r.stubs


def check_started(log: Path, binary: str, g: Group) -> str:
    """With --bin: the servers a suite started must all be the graded binary."""
    started = log.read_text().splitlines() if log.exists() else []
    others = sorted({Path(p).resolve().as_posix() for p in started} - {binary})
    if others:
        g.note = (g.note + "\n" if g.note else "") + \
            "this suite started " + ", ".join(others) + ", not the graded binary"
        return (f"{g.name} started {', '.join(others)} instead of {binary}: make the suite "
                "take its server from server_binary() (tests/support/server_process.hpp)")
    if not started:
        print(f"grade: note: {g.name} started no server", file=sys.stderr)
    return ""


if __name__ == "__main__":
    sys.exit(main())
