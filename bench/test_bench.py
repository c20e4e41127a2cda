"""Unit tests of the bench driver's pure parts: parsing wrk and strace output, the bench-quick
assertion, the scenario table, the ratios in the Markdown table, RESULTS.md's markers, and the
/proc readers. Run: python3 -m unittest -q test_bench (from bench/). Label: bench."""
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def http_record(server, scenario="4k-c10-ka", rps=1000.0, errors=None, workers=1, cpu=0.05,
                requests=1000):
    errs = errors or {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    lat = {"p50": 100.0, "p90": 200.0, "p99": 300.0, "max": 400.0, "mean": 120.0}
    run = {"requests": requests, "rps": rps, "mb_per_s": rps * 4096 / 1e6, "latency_us": lat,
           "errors": errs, "server_cpu_s": cpu * requests / 1000, "cpu_s_per_1k": cpu}
    s = bench.summarize
    return {"server": server, "stage": "4", "workers": workers, "scenario": scenario,
            "runs": [run], "rps": s([rps]), "mb_per_s": s([run["mb_per_s"]]),
            "latency_us": {k: s([lat[k]]) for k in ("p50", "p90", "p99", "max")},
            "errors": sum(errs.values()), "timeouts": errs["timeout"],
            "cpu_s_per_1k": s([cpu]), "peak_rss_kib": 2048}


def data_with(http, echo=None, failed=None):
    return {"http": http, "echo": echo or [], "idle": [], "syscalls": [], "skipped": [],
            "failed_to_start": failed or []}


class ParseWrk(unittest.TestCase):
    def test_reads_the_json_line_among_wrks_text(self):
        out = ("Running 1s test @ http://127.0.0.1:1/4k.html\n  1 threads and 10 connections\n"
               'BENCH_JSON {"duration_us":1000000,"requests":42,"bytes":99,"errors":{"connect":0,'
               '"read":1,"write":0,"status":0,"timeout":2},"latency_us":{"p50":1.0,"p90":2.0,'
               '"p99":3.0,"max":4.0,"mean":1.5}}\nRequests/sec: 42\n')
        r = bench.parse_wrk_output(out)
        self.assertEqual(r["requests"], 42)
        self.assertEqual(r["errors"]["timeout"], 2)

    def test_no_json_line_means_failure(self):
        self.assertIsNone(bench.parse_wrk_output("unable to connect to 127.0.0.1:1\n"))

    def test_truncated_json_means_failure(self):
        self.assertIsNone(bench.parse_wrk_output('BENCH_JSON {"requests": 4'))


class ParseStrace(unittest.TestCase):
    def test_reads_calls_from_total_line(self):
        text = ("% time     seconds  usecs/call     calls    errors syscall\n"
                "------ ----------- ----------- --------- --------- ----------------\n"
                " 60.00    0.006000           2      3000           writev\n"
                " 40.00    0.004000           1      3001         1 read\n"
                "------ ----------- ----------- --------- --------- ----------------\n"
                "100.00    0.010000           1      6001         1 total\n")
        self.assertEqual(bench.parse_strace_total(text), 6001)

    def test_total_line_without_errors_column(self):
        self.assertEqual(bench.parse_strace_total("100.00    0.000010   1   17 total\n"), 17)

    def test_nothing_to_parse(self):
        self.assertIsNone(bench.parse_strace_total("strace: attach: ptrace: Operation not "
                                                   "permitted\n"))


class Scenarios(unittest.TestCase):
    def test_full_matrix_is_files_by_connections_by_mode(self):
        ids = [s.id for s in bench.all_scenarios(False)]
        self.assertEqual(len(ids), 3 * 4 * 2)
        self.assertIn("1m-c1000-close", ids)
        self.assertEqual(len(set(ids)), len(ids))

    def test_sequential_server_runs_only_close_with_few_connections(self):
        seq = next(s for s in bench.our_servers() if s.name == "http-seq")
        run = [s.id for s in bench.all_scenarios(False) if bench.fits(seq, s)]
        self.assertEqual(sorted(run), sorted(["128b-c1-close", "128b-c10-close", "4k-c1-close",
                                              "4k-c10-close", "1m-c1-close", "1m-c10-close"]))

    def test_prefork_has_every_accept_mode_with_one_and_two_workers(self):
        names = {s.name for s in bench.our_servers()}
        for mode in ("passfd", "shared", "reuseport"):
            for w in (1, 2):
                self.assertIn(f"http-prefork-{mode}-w{w}", names)

    def test_peers_match_worker_counts(self):
        names = {s.name for s in bench.peer_servers([1, 2, 1])}
        self.assertEqual(names, {"nginx-w1", "lighttpd-w1", "h2o-w1", "nginx-w2",
                                 "lighttpd-w2", "h2o-w2"})

    def test_missing_binary_is_skipped_not_a_crash(self):
        with tempfile.TemporaryDirectory() as build:
            seq = bench.our_servers()[0]
            self.assertEqual(bench.is_available(seq, build), "not built, skipped")

    def test_filters_are_globs(self):
        self.assertTrue(bench.matches("http-prefork-shared-w2", ["http-prefork-*-w2"]))
        self.assertFalse(bench.matches("nginx-w1", ["http-*"]))
        self.assertTrue(bench.matches("anything", []))


class Check(unittest.TestCase):
    def test_clean_results_pass(self):
        passed, failed, _ = bench.check_results(data_with([http_record("nginx-w1"),
                                                           http_record("http-epoll")]))
        self.assertEqual((passed, failed), (2, 0))

    def test_any_wrk_error_fails_that_server(self):
        errs = {"connect": 0, "read": 3, "write": 0, "status": 0, "timeout": 0}
        passed, failed, lines = bench.check_results(
            data_with([http_record("nginx-w1"), http_record("http-epoll", errors=errs)]))
        self.assertEqual((passed, failed), (1, 1))
        self.assertTrue(any(line.startswith("FAIL http-epoll") for line in lines), lines)

    def test_zero_throughput_fails(self):
        _, failed, _ = bench.check_results(data_with([http_record("x", rps=0.0, requests=0)]))
        self.assertEqual(failed, 1)

    def test_a_failed_run_fails(self):
        rec = http_record("x")
        rec["runs"] = [{"error": "wrk failed (exit 1)"}]
        _, failed, _ = bench.check_results(data_with([rec]))
        self.assertEqual(failed, 1)

    def test_a_server_that_did_not_start_fails(self):
        passed, failed, _ = bench.check_results(
            data_with([], failed=[{"server": "http-epoll", "reason": "exit 2"}]))
        self.assertEqual((passed, failed), (0, 1))

    def test_echo_errors_fail(self):
        run = {"errors": {"connect": 0, "io": 0, "eof": 1, "mismatch": 0, "timeout": 0},
               "round_trips": 10}
        echo = [{"server": "socat", "mode": "pingpong", "connections": 1, "runs": [run]}]
        _, failed, _ = bench.check_results(data_with([], echo=echo))
        self.assertEqual(failed, 1)


class RunBookkeeping(unittest.TestCase):
    """measured_run's rows and the medians the scenario scripts (middleware.py, proxy.py)
    take of them."""

    def test_a_run_row_counts_requests_per_server_cpu_second(self):
        class FakeRun:
            port = 1
            cpu = iter([1.0, 3.0])
            def tree(self):
                return [os.getpid()]
        wrk = {"requests": 1000, "duration_us": 2_000_000, "latency_us": {"p99": 250.0},
               "errors": {"connect": 0, "read": 2, "write": 0, "status": 1, "timeout": 0}}
        saved = bench.run_wrk, bench.cpu_seconds
        try:
            bench.run_wrk = lambda *a, **k: wrk
            bench.cpu_seconds = lambda pids: next(FakeRun.cpu)
            row = bench.measured_run(FakeRun(), bench.Scenario("4k", 100, True), 2, None)
        finally:
            bench.run_wrk, bench.cpu_seconds = saved
        self.assertEqual(row["rps"], 500.0)
        self.assertEqual(row["server_cpu_s"], 2.0)
        self.assertEqual(row["per_cpu_s"], 500.0)
        self.assertEqual(row["errors"], 3)
        self.assertEqual(row["p99_us"], 250.0)

    def test_medians_skip_failed_runs_and_errors_count_them(self):
        runs = [{"rps": 10.0, "errors": 0}, {"error": "wrk failed"}, {"rps": 30.0, "errors": 2},
                {"rps": 20.0, "errors": 0}]
        self.assertEqual(bench.median_of(runs, "rps"), 20.0)
        self.assertEqual(bench.run_errors(runs), 3)
        self.assertEqual(bench.median_of([{"error": "x"}], "rps"), 0.0)

    def test_a_ratio_without_a_base_is_zero(self):
        self.assertEqual(bench.ratio_of(9.0, 10.0), 0.9)
        self.assertEqual(bench.ratio_of(9.0, 0.0), 0.0)


class Table(unittest.TestCase):
    def test_ratios_are_against_nginx_with_the_same_workers(self):
        http = [http_record("nginx-w1", rps=2000.0, cpu=0.05),
                http_record("lighttpd-w1", rps=4000.0),
                http_record("nginx-w2", rps=8000.0, workers=2),
                http_record("http-epoll", rps=1000.0, cpu=0.10)]
        table = bench.markdown_tables(data_with(http))
        row = next(line for line in table.splitlines() if "| http-epoll |" in line)
        cells = [c.strip() for c in row.split("|")]
        self.assertEqual(cells[4], "0.50")   # x nginx-w1, not nginx-w2
        self.assertEqual(cells[5], "0.25")   # x best peer (lighttpd here)
        self.assertEqual(cells[13], "2.00")  # CPU per request x nginx

    def test_results_md_keeps_hand_written_notes(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "RESULTS.md")
            with open(path, "w") as f:
                f.write(f"# R\n\nnotes above\n\n{bench.MARK_BEGIN}\nold\n{bench.MARK_END}\n"
                        "notes below\n")
            bench.update_results_md(path, "new table\n")
            with open(path) as f:
                text = f.read()
        self.assertIn("notes above", text)
        self.assertIn("notes below", text)
        self.assertIn("new table", text)
        self.assertNotIn("old", text)


class Proc(unittest.TestCase):
    def test_tree_includes_a_child_and_cpu_is_counted(self):
        child = subprocess.Popen([sys.executable, "-c",
                                  "import time\nt=time.time()\nwhile time.time()-t<0.3: pass\n"
                                  "time.sleep(5)"])
        try:
            time.sleep(0.5)
            tree = bench.process_tree(os.getpid())
            self.assertIn(child.pid, tree)
            self.assertGreater(bench.cpu_seconds([child.pid]), 0.0)
            self.assertGreater(bench.status_kib([child.pid], "VmRSS"), 0)
        finally:
            child.kill()
            child.wait()

    def test_gone_pid_counts_nothing(self):
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        self.assertEqual(bench.cpu_seconds([child.pid]), 0.0)
        self.assertEqual(bench.start_time(child.pid), "")


if __name__ == "__main__":
    unittest.main()


class TrackedFiles(unittest.TestCase):
    """bench/RESULTS.md is rewritten only by a full run into the tracked results folder."""

    def test_default_run_updates_results(self):
        args = bench.parse_args([])
        self.assertFalse(args.no_update)
        self.assertTrue(args.out.endswith(os.path.join("bench", "results")))

    def test_out_elsewhere_leaves_results_alone(self):
        self.assertTrue(bench.parse_args(["--out", "build/bench-week13"]).no_update)

    def test_quick_leaves_results_alone(self):
        self.assertTrue(bench.parse_args(["--quick"]).no_update)
