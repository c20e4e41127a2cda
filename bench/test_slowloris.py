"""Unit tests of bench/slowloris.py: flags and their bounds, the report, and the slow
clients against a loopback listener (never how fast anything is)."""
import contextlib
import io
import socket
import time
import unittest

import slowloris


class ParseArgs(unittest.TestCase):
    def test_defaults_are_the_issue_scenario(self):
        a = slowloris.parse_args([])
        self.assertEqual((a.slow, a.interval, a.connections, a.seconds), (400, 2.0, 10, 10))

    def test_out_of_bounds_values_exit_2(self):
        for argv in (["--slow", "0"], ["--slow", "4001"], ["--seconds", "121"],
                     ["--interval", "0"], ["--connections", "0"], ["--server", "nope"]):
            with self.subTest(argv=argv), contextlib.redirect_stderr(io.StringIO()):
                with self.assertRaises(SystemExit) as cm:
                    slowloris.parse_args(argv)
                self.assertEqual(cm.exception.code, 2)


class Table(unittest.TestCase):
    def row(self, server, rps, p99, requests=1000):
        return {"server": server, "slow": 400, "slow_opened": 400, "slow_dropped": 3,
                "requests": requests, "rps": rps, "p50_ms": 1.0, "p99_ms": p99,
                "errors": {"connect": 0, "read": 2, "write": 0, "status": 0, "timeout": 0}}

    def test_ratios_are_to_nginx_of_the_same_run(self):
        text = slowloris.table([self.row("nginx", 1000.0, 10.0), self.row("ours", 500.0, 20.0)])
        ours = text.splitlines()[-1]
        self.assertIn("| 0.50 |", ours)   # req/s x nginx
        self.assertIn("| 2.00 |", ours)   # p99 x nginx
        self.assertIn("read 2", ours)

    def test_a_server_that_answered_nothing_shows_no_latency(self):
        text = slowloris.table([self.row("ours", 0.0, 0.0, requests=0)])
        self.assertIn("no response in the whole run", text)
        self.assertNotIn("0.00", text)


class DripperAgainstALoopbackListener(unittest.TestCase):
    def test_drips_bytes_and_counts_and_replaces_dropped_connections(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(5)
        port = listener.getsockname()[1]
        dripper = slowloris.Dripper(port, 3, 0.1)
        accepted = []
        try:
            dripper.start()
            accepted = [listener.accept()[0] for _ in range(3)]
            accepted[0].close()  # the "server" drops one
            deadline = time.monotonic() + 5
            while dripper.dropped < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(dripper.dropped, 1)
            accepted.append(listener.accept()[0])  # ... and it is replaced
            accepted[1].settimeout(5)
            got = b""
            while len(got) < 3:  # one byte per interval, in order
                got += accepted[1].recv(16)
            self.assertTrue(slowloris.SLOW_HEAD.startswith(got))
        finally:
            dripper.stop()
            for s in accepted:
                s.close()
            listener.close()


if __name__ == "__main__":
    unittest.main()
