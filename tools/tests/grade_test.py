#!/usr/bin/env python3
"""Tests of tools/grade.py: that a grade grades the binary it is given.

    GRADE_TEST_BUILD=build/debug python3 tools/tests/grade_test.py [Class[.test]]

ctest runs each class as its own test (tools/tests/CMakeLists.txt, label `labs`):

    GradeRules       the scoring rules, the region hints, the weight tables (no servers)
    GradeReference   the reference earns full marks (stage 1 whole, stage 2 with BIN=)
    GradeWrongServer a server answering 404 to everything scores near zero; one that
                     reaches a lab stub, or hangs, stops its suite quickly, is named,
                     and leaves no process behind
    GradeWrongStage  stage 4 graded with the stage 2 binary loses the concurrency and
                     keep-alive cases (slow: a suite runs into its timeout)

Each run grades only the groups that prove its point (--only), with --no-build (the
ctest fixture built what they run) and a bounded --timeout. The wrong servers are
tools/tests/fake_server.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
GRADE = ROOT / "tools" / "grade.py"
FAKE = HERE / "fake_server.py"
BUILD = Path(os.environ.get("GRADE_TEST_BUILD", ROOT / "build" / "debug")).resolve()

spec = importlib.util.spec_from_file_location("grade", GRADE)
grade = importlib.util.module_from_spec(spec)
assert spec.loader is not None
sys.modules["grade"] = grade
spec.loader.exec_module(grade)


class Graded:
    """One run of grade.py: its exit status, its printed output and results.json."""

    def __init__(self, *args: str, env: dict | None = None, deadline: float = 300):
        self.out = Path(tempfile.mkdtemp(prefix="grade-test-"))
        start = time.monotonic()
        p = subprocess.run([sys.executable, str(GRADE), "--build", str(BUILD), "--no-build",
                            "--out", str(self.out), *args],
                           env={**os.environ, **(env or {})}, capture_output=True, text=True,
                           timeout=deadline)
        self.seconds = time.monotonic() - start
        self.status = p.returncode
        self.text = p.stdout + p.stderr
        path = self.out / "results.json"
        self.results = json.loads(path.read_text()) if path.exists() else {}

    def group(self, name: str) -> dict:
        for t in self.results.get("tests", []):
            if t["name"] == name:
                return t
        raise AssertionError(f"no group {name} in results.json:\n{self.text}")

    def failed_cases(self) -> set[str]:
        """Names of the cases junit.xml reports as failed."""
        text = (self.out / "junit.xml").read_text()
        return set(re.findall(r'<testcase name="([^"]+)"[^>]*>\s*<failure', text))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (nobody may have reaped it yet).
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"


class GradeRules(unittest.TestCase):
    """The rules, on made-up reports and the real tree; no server runs."""

    def gtest_report(self, skip_message: str) -> list:
        """A GoogleTest XML report: one case passes, one fails, one skips with the message."""
        skip_message = skip_message.replace("\n", "&#x0A;")  # as GoogleTest writes it
        xml = ("<testsuites><testsuite name='Connections'>"
               "<testcase name='Passes' status='run' result='completed'/>"
               "<testcase name='Fails' status='run' result='completed'>"
               "<failure message='boom'/></testcase>"
               "<testcase name='Skips' status='run' result='skipped'>"
               f"<skipped message='{skip_message}'/></testcase>"
               "</testsuite></testsuites>")
        with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
            f.write(xml)
        return grade.gtest_cases(Path(f.name), "http_conformance:stage4")

    def test_a_feature_skip_is_scored_as_lost(self):
        cases = self.gtest_report("a_test.cpp:39\nthe server answers Connection: close")
        g = grade.Group("g", 30, cases)
        self.assertEqual((g.passed, g.scored), (1, 3))
        self.assertEqual(g.score, 10.0)

    def test_an_environmental_skip_leaves_the_maximum(self):
        for message in ("a_test.cpp:12\nenvironment: no IPv6 loopback here",
                        "a_test.cpp:12\nrunning as root: permissions do not apply",
                        "a_test.cpp:12\nneeds 2064 descriptors (ulimit -n)"):
            g = grade.Group("g", 30, self.gtest_report(message))
            self.assertEqual((g.passed, g.scored), (1, 2), message)
            self.assertEqual(g.score, 15.0)

    def test_only_the_close_variant_excuses_keep_alive_skips(self):
        skip = "the server answers Connection: close (persistent connections are off)"
        self.assertFalse(grade.skip_case("S", "c", skip, "http_conformance:stage2-close").scored)
        self.assertTrue(grade.skip_case("S", "c", skip, "http_conformance:stage2").scored)
        self.assertTrue(grade.skip_case("S", "c", "other", "http_conformance:stage2-close").scored)

    def test_a_group_of_only_environmental_skips_keeps_its_weight(self):
        g = grade.Group("g", 10, [grade.Case("S", "c", False, scored=False)])
        self.assertEqual(g.score, 10)

    def test_a_week_or_a_split_region_resolves_to_the_tree_regions(self):
        split = ["lab02:read-n", "lab03:request-line", "lab03:header-fields",
                 "lab03:head-rules", "lab04:safe-path"]
        self.assertEqual(grade.resolve_regions(["lab03"], split),
                         ["lab03:request-line", "lab03:header-fields", "lab03:head-rules"])
        self.assertEqual(grade.resolve_regions(["lab03:parse-request"], split),
                         ["lab03:request-line", "lab03:header-fields", "lab03:head-rules"])
        self.assertEqual(grade.resolve_regions(["lab03:parse-request"], ["lab03:parse-request"]),
                         ["lab03:parse-request"])

    def test_the_regions_are_read_from_a_tree_under_a_build_directory(self):
        with tempfile.TemporaryDirectory(dir=BUILD if BUILD.exists() else None) as tree:
            src = Path(tree) / "common" / "src"
            src.mkdir(parents=True)
            (src / "rio.cpp").write_text("// [lab02:read-n:begin]\n// [lab02:read-n:end]\n")
            (Path(tree) / "build").mkdir()
            (Path(tree) / "build" / "copy.cpp").write_text("// [lab09:stale:begin]\n")
            self.assertEqual(grade.tree_regions(Path(tree)), ["lab02:read-n"])

    def test_black_box_failures_name_the_likely_region(self):
        known = grade.tree_regions(ROOT)
        self.assertIn("lab04:safe-path", known)
        hints = grade.hints_for("stage2", "http_conformance:stage2", ["Attempts/Traversal"],
                                True, known)
        self.assertEqual(hints[0], "lab04:safe-path")
        hints = grade.hints_for("stage4", "stage4_http_epoll_test", ["Triggering/HttpEpoll"],
                                True, known)
        self.assertIn("lab11:event-loop-dispatch", hints)
        hints = grade.hints_for("stage1", "common_rio_test", ["Rio"], False, known)
        self.assertEqual(hints[0], "lab02:read-n")
        for test, suite in (("stage3_http_threadpool_test", "HttpThreadpool"),
                            ("stage5_http_prefork_test", "HttpPrefork"),
                            ("http_conformance:stage2", "Basics")):
            self.assertTrue(all(h in known for h in grade.hints_for(
                test[:6], test, [suite], True, known)), test)

    def test_every_stage_is_worth_100_points(self):
        for stage, weights in grade.WEIGHTS.items():
            self.assertEqual(sum(weights.values()), 100, stage)

    def test_each_stage_readme_states_the_weights_grade_uses(self):
        for stage, weights in grade.WEIGHTS.items():
            readme = next(ROOT.glob(f"{stage}-*/README.md")).read_text()
            section = readme.split("## Grading", 1)
            self.assertEqual(len(section), 2, f"{stage} README has no '## Grading' section")
            body = section[1].split("\n## ", 1)[0]
            stated = {m.group(1): int(m.group(2))
                      for m in re.finditer(r"^\| `([^`]+)` \|[^|]*\| (\d+) \|", body, re.M)}
            self.assertEqual(stated, weights, f"{stage} README's Grading table")

    @unittest.skipUnless((BUILD / "CTestTestfile.cmake").exists(), "environment: no build")
    def test_the_weights_cover_every_test_a_grade_runs(self):
        for stage, weights in grade.WEIGHTS.items():
            names = {t["name"] for t in grade.select_tests(BUILD, stage, black_box=False)
                     if not grade.prop(t, "FIXTURES_SETUP")}
            self.assertEqual(names, set(weights), stage)

    @unittest.skipUnless((BUILD / "CTestTestfile.cmake").exists(), "environment: no build")
    def test_stage1_grades_the_robust_io_unit_tests(self):
        names = [t["name"] for t in grade.select_tests(BUILD, "stage1", black_box=False)]
        self.assertIn("common_rio_test", names)
        self.assertIn("common_framing_test", names)
        names = [t["name"] for t in grade.select_tests(BUILD, "stage1", black_box=True)]
        self.assertNotIn("common_rio_test", names)


class GradeReference(unittest.TestCase):
    def test_stage1_in_the_reference_tree_earns_full_marks(self):
        g = Graded("--stage", "1", "--timeout", "120")
        self.assertEqual(g.status, 0, g.text)
        self.assertEqual(g.results["score"], 100, g.text)
        self.assertEqual(g.results["max_score"], 100)
        self.assertEqual(g.group("common_rio_test")["max_score"], 10)

    def test_stage2_with_bin_the_reference_earns_full_marks(self):
        server = BUILD / "stage2-http-seq" / "http-seq"
        g = Graded("--stage", "2", "--bin", str(server), "--timeout", "120")
        self.assertEqual(g.status, 0, g.text)
        self.assertEqual(g.results["score"], g.results["max_score"], g.text)
        self.assertEqual(g.results["max_score"], 70)  # the black-box groups: 35 + 15 + 20
        for started in (g.out / "started").iterdir():
            self.assertEqual(set(started.read_text().splitlines()), {str(server)}, started)


class GradeWrongServer(unittest.TestCase):
    def setUp(self):
        self.pids = Path(tempfile.mkdtemp(prefix="grade-test-pids-")) / "pids"

    def grade_fake(self, mode: str, only: str, timeout: str) -> Graded:
        return Graded("--stage", "2", "--bin", str(FAKE), "--only", only, "--timeout", timeout,
                      env={"FAKE_SERVER_MODE": mode, "FAKE_SERVER_PIDS": str(self.pids)})

    def assert_nothing_left(self):
        pids = [int(p) for p in self.pids.read_text().split()] if self.pids.exists() else []
        self.assertTrue(pids, "the fake server never ran")
        self.assertEqual([p for p in pids if alive(p)], [], "processes left behind")

    def test_a_server_answering_404_to_everything_scores_near_zero(self):
        # stage2_http_seq_test: the suite that used to run the reference whatever BIN was.
        g = self.grade_fake("404", r"^stage2_http_seq_test$", "120")
        self.assertEqual(g.status, 0, g.text)  # grading ran; the suite started the fake only
        self.assertEqual(g.results["max_score"], 20)
        self.assertLess(g.results["score"], 0.1 * 20, g.text)
        self.assertIn("likely at fault: [lab", g.group("stage2_http_seq_test")["output"])
        self.assert_nothing_left()

    def test_a_server_at_a_lab_stub_stops_its_suite_by_name(self):
        g = self.grade_fake("stub", r"^stage2_http_seq_test$", "120")
        self.assertLess(g.seconds, 30, "a stub must stop the suite at once:\n" + g.text)
        self.assertIn("[lab11:event-loop-dispatch] is still the stub", g.text)
        self.assertIn("[lab11:event-loop-dispatch] is still the stub", g.results["output"])
        group = g.group("stage2_http_seq_test")
        self.assertEqual(group["score"], 0)
        self.assertIn("likely at fault: [lab11:event-loop-dispatch]", group["output"])
        self.assert_nothing_left()

    def test_a_server_that_hangs_is_cut_off_at_the_timeout(self):
        g = self.grade_fake("hang", r"^stage2_http_seq_test$", "8")
        self.assertLess(g.seconds, 40, g.text)
        self.assertIn("timed out", g.group("stage2_http_seq_test")["output"])
        self.assertEqual(g.group("stage2_http_seq_test")["score"], 0)
        self.assert_nothing_left()


class GradeWrongStage(unittest.TestCase):
    def test_stage4_with_the_stage2_binary_loses_the_concurrency_cases(self):
        g = Graded("--stage", "4", "--bin", str(BUILD / "stage2-http-seq" / "http-seq"),
                   "--only", r"^(http_conformance:stage4|stage4_http_epoll_test)$",
                   "--timeout", "40")
        self.assertEqual(g.status, 0, g.text)
        failed = g.failed_cases()
        for case in ("Triggering/HttpEpoll.ThousandConcurrentConnectionsAreAllServed/"
                     "LevelTriggered",
                     "Triggering/HttpEpoll.ManyConnectionsWithPipelinedRequestsAreAllAnswered/"
                     "EdgeTriggered",
                     "Connections.TwoRequestsShareOneConnection",
                     "Connections.TenPipelinedRequestsAreAnsweredInOrder"):
            self.assertTrue(any(f.startswith(case) for f in failed), f"{case} not lost:\n{g.text}")
        conformance = g.group("http_conformance:stage4")
        self.assertLess(conformance["score"], conformance["max_score"])
        self.assertIn("a missing feature earns nothing", conformance["output"])
        self.assertLess(g.group("stage4_http_epoll_test")["score"], 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
