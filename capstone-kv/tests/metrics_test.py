#!/usr/bin/python3
"""metrics_test.py: kv-server's --metrics-port, scraped with curl.

    KV_SERVER_BIN=/path/to/kv-server metrics_test.py [unittest args]

One kv-server on port 0 with --metrics-port 0: the second stdout line says
`metrics listening on 127.0.0.1:PORT`. Writes go through redis-cli, reads of
the metrics through curl, as a monitoring system would. Every subprocess has a
timeout; nothing here measures speed.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import unittest

import kvtest

BIN = os.environ.get("KV_SERVER_BIN", "")
TIMEOUT = 10


def curl(url, *args):
    """(status, body) of one request; curl's own failure raises."""
    r = subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT), "-o", "-",
                        "-w", "\n%{http_code}", *args, url],
                       capture_output=True, text=True, timeout=TIMEOUT + 5)
    if r.returncode != 0:
        raise AssertionError(f"curl {url} failed: {r.stderr}")
    body, _, status = r.stdout.rpartition("\n")
    return int(status), body


def samples(text):
    """{name: value} of the Prometheus text's sample lines (labels stay in the name)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.split()
            out[name] = int(value)
    return out


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = kvtest.start_kv(BIN, "--metrics-port", "0")
        line = cls.server.proc.stdout.readline()
        m = re.fullmatch(r"metrics listening on 127\.0\.0\.1:(\d+)\n", line)
        if not m:
            cls.server.stop()
            raise AssertionError(f"no metrics line after the first: {line!r}")
        cls.metrics_port = int(m.group(1))
        cls.base = f"http://127.0.0.1:{cls.metrics_port}"

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        stderr = cls.server.stderr_text()
        assert status == 0, f"kv-server exited with {status} on SIGTERM: {stderr[-2000:]}"

    def cli(self, *words):
        r = subprocess.run(["redis-cli", "-p", str(self.server.port), *words],
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def scrape(self):
        status, body = curl(self.base + "/metrics")
        self.assertEqual(status, 200, body)
        return samples(body)

    def test_metrics_follow_set_and_get(self):
        before = self.scrape()
        self.assertEqual(self.cli("SET", "metric:key", "v"), "OK\n")
        self.assertEqual(self.cli("GET", "metric:key"), "v\n")
        self.assertEqual(self.cli("GET", "metric:key"), "v\n")
        self.assertEqual(self.cli("GET", "metric:absent"), "\n")
        after = self.scrape()
        self.assertEqual(after["kv_keyspace_hits_total"] - before["kv_keyspace_hits_total"], 2)
        self.assertEqual(after["kv_keyspace_misses_total"] - before["kv_keyspace_misses_total"], 1)
        # four commands, and each redis-cli run may send its own COMMAND DOCS first
        self.assertGreaterEqual(
            after["kv_commands_processed_total"] - before["kv_commands_processed_total"], 4)
        self.assertEqual(
            after["kv_connections_received_total"] - before["kv_connections_received_total"], 4)
        self.assertGreaterEqual(after["kv_keys"], 1)
        self.assertGreater(after["kv_used_memory_bytes"], 0)
        for name in ("kv_expired_keys_total", "kv_evicted_keys_total",
                     "kv_connections_rejected_total", "kv_connected_clients"):
            self.assertIn(name, after)

    def test_connected_clients_counts_an_open_connection(self):
        conn = kvtest.Conn(self.server.port)
        self.addCleanup(conn.close)
        self.assertEqual(conn.call("PING"), b"PONG")
        self.assertGreaterEqual(self.scrape()["kv_connected_clients"], 1)

    def test_text_format_has_help_and_type_for_every_sample(self):
        status, body = curl(self.base + "/metrics")
        self.assertEqual(status, 200)
        names = [l.split()[0].split("{")[0] for l in body.splitlines()
                 if l and not l.startswith("#")]
        self.assertTrue(names)
        for name in names:
            self.assertIn(f"# TYPE {name} ", body)
            self.assertIn(f"# HELP {name} ", body)

    def test_health(self):
        self.assertEqual(curl(self.base + "/health"), (200, "ok\n"))

    def test_unknown_path_is_404(self):
        self.assertEqual(curl(self.base + "/nope")[0], 404)
        self.assertEqual(curl(self.base + "/metrics/more")[0], 404)

    def test_other_method_is_405(self):
        self.assertEqual(curl(self.base + "/metrics", "-X", "POST")[0], 405)

    def test_malformed_request_gets_400_and_kv_keeps_serving(self):
        with socket.create_connection(("127.0.0.1", self.metrics_port), timeout=TIMEOUT) as s:
            s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            reply = b""
            while True:  # the server answers, then closes
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        self.assertTrue(reply.startswith(b"HTTP/1.1 400 "), reply[:200])
        self.assertEqual(self.cli("PING"), "PONG\n")
        self.assertEqual(curl(self.base + "/health")[0], 200)

    def test_resp_on_the_metrics_port_is_refused_and_http_on_the_kv_port_is_an_error(self):
        # the two listeners do not mix up their protocols
        with socket.create_connection(("127.0.0.1", self.metrics_port), timeout=TIMEOUT) as s:
            s.sendall(kvtest.encode(["PING"]))
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 400 "))
        conn = kvtest.Conn(self.server.port)
        self.addCleanup(conn.close)
        conn.send_raw(b"GET /metrics HTTP/1.1\r\n\r\n")
        self.assertIsInstance(conn.read(), kvtest.Error)
        self.assertEqual(self.cli("PING"), "PONG\n")


class Flags(unittest.TestCase):
    def test_bad_metrics_port_is_a_usage_error(self):
        for value in ("-2", "65536", "x"):
            r = subprocess.run([BIN, "--port", "0", "--metrics-port", value],
                               capture_output=True, text=True, timeout=TIMEOUT)
            self.assertEqual(r.returncode, 2, (value, r.stdout, r.stderr))

    def test_without_the_flag_there_is_no_metrics_line(self):
        with kvtest.start_kv(BIN) as server:
            conn = kvtest.Conn(server.port)
            self.addCleanup(conn.close)
            self.assertEqual(conn.call("PING"), b"PONG")
            server.stop()
            self.assertNotIn("metrics listening", server.proc.stdout.read())


if __name__ == "__main__":
    if not BIN:
        raise SystemExit("set KV_SERVER_BIN to the kv-server binary")
    for tool in ("curl", "redis-cli"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed: skipped")
            sys.exit(77)
    unittest.main()
