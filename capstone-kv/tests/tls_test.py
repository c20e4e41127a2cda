#!/usr/bin/python3
"""tls_test.py: kv-server with --tls-cert, under redis-cli --tls and redis-py with ssl.

    KV_SERVER_BIN=/path/to/kv-server MAKE_TEST_CERTS=tools/make-test-certs.sh \\
    KV_CERT_DIR=/tmp/certs tls_test.py [unittest args]

The certificates are made fresh by tools/make-test-certs.sh into KV_CERT_DIR (a
directory of the build tree) when the tests start. Every socket and subprocess
has a timeout; nothing here measures speed.
"""
import os
import re
import socket
import ssl
import subprocess
import sys
import unittest

try:
    import redis
except ImportError:  # not Debian's python3, or python3-redis not installed
    print("redis-py (python3-redis) is missing: skipped")
    sys.exit(77)

import kvtest

BIN = os.environ.get("KV_SERVER_BIN", "")
MAKE_CERTS = os.environ.get("MAKE_TEST_CERTS", "")
CERTS = os.environ.get("KV_CERT_DIR", "")
TIMEOUT = 10


def cert(name):
    return os.path.join(CERTS, name)


def tls_flags(*extra):
    return ("--tls-cert", cert("server.pem"), "--tls-key", cert("server.key"), *extra)


class TlsCase(kvtest.ServerCase):
    @classmethod
    def server_flags(cls):
        return tls_flags(*cls.FLAGS)

    def client(self, **kw):
        r = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=TIMEOUT, ssl=True,
                        ssl_ca_certs=cert("ca.pem"), **kw)
        self.addCleanup(r.close)
        return r

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args],
                              capture_output=True, text=True, timeout=TIMEOUT)

    def tls_cli(self, *words):
        r = self.cli("--tls", "--cacert", cert("ca.pem"), *words)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout


class Tls(TlsCase):
    def test_redis_cli_over_tls(self):
        self.assertEqual(self.tls_cli("SET", "tls:cli", "hello"), "OK\n")
        self.assertEqual(self.tls_cli("GET", "tls:cli"), "hello\n")

    def test_redis_py_over_tls(self):
        r = self.client()
        self.assertTrue(r.set("tls:py", "v"))
        self.assertEqual(r.get("tls:py"), b"v")
        # a value of many TLS records, both ways
        big = os.urandom(3 * 1024 * 1024 + 7)
        self.assertTrue(r.set("tls:big", big))
        self.assertEqual(r.get("tls:big"), big)
        # a pipeline: many commands in few records, many replies in few records
        p = r.pipeline(transaction=False)
        for i in range(2000):
            p.incr("tls:counter")
        self.assertEqual(p.execute()[-1], 2000)

    def test_pubsub_over_tls(self):
        sub = self.client().pubsub()
        self.addCleanup(sub.close)
        sub.subscribe("tls:news")
        self.assertEqual(sub.get_message(timeout=TIMEOUT)["type"], "subscribe")
        self.assertEqual(self.client().publish("tls:news", "hi"), 1)
        msg = sub.get_message(timeout=TIMEOUT)
        self.assertEqual((msg["type"], msg["data"]), ("message", b"hi"))

    def test_plain_resp_is_dropped_and_others_keep_working(self):
        r = self.client()
        self.assertTrue(r.set("tls:keep", "1"))  # a TLS client, connected before
        silent = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        self.addCleanup(silent.close)  # connected, says nothing: must not stall anyone
        plain = kvtest.Conn(self.port)
        self.addCleanup(plain.close)
        plain.send("PING")
        with self.assertRaises((EOFError, ConnectionResetError)):
            reply = plain.read()  # a TLS alert is not RESP either: read() must not succeed
            self.fail(f"plain RESP got a reply: {reply!r}")
        self.assertEqual(r.get("tls:keep"), b"1")
        self.assertEqual(self.tls_cli("PING"), "PONG\n")

    def test_plain_redis_cli_fails(self):
        r = self.cli("PING")
        self.assertNotEqual(r.stdout, "PONG\n")

    def test_untrusted_server_certificate_is_refused_by_the_client(self):
        r = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=TIMEOUT, ssl=True,
                        ssl_ca_certs=cert("other-ca.pem"))
        self.addCleanup(r.close)
        with self.assertRaises(redis.exceptions.ConnectionError):
            r.ping()
        self.assertEqual(self.client().ping(), True)


class MutualTls(TlsCase):
    FLAGS = ("--tls-client-ca", cert("ca.pem"), "--tls-verify-client", "require")

    def test_client_with_certificate_is_served(self):
        r = self.client(ssl_certfile=cert("client.pem"), ssl_keyfile=cert("client.key"))
        self.assertTrue(r.set("mtls:k", "v"))
        self.assertEqual(r.get("mtls:k"), b"v")
        out = self.tls_cli("--cert", cert("client.pem"), "--key", cert("client.key"), "PING")
        self.assertEqual(out, "PONG\n")

    def test_client_without_certificate_is_rejected(self):
        r = self.client()
        with self.assertRaises(redis.exceptions.ConnectionError):
            r.ping()
        r = self.cli("--tls", "--cacert", cert("ca.pem"), "PING")
        self.assertNotEqual(r.stdout, "PONG\n")

    def test_certificate_from_another_ca_is_rejected(self):
        r = self.client(ssl_certfile=cert("stranger.pem"), ssl_keyfile=cert("stranger.key"))
        with self.assertRaises(redis.exceptions.ConnectionError):
            r.ping()


class TlsMetrics(TlsCase):
    """The TLS context's counters in /metrics (--metrics-port stays plain HTTP)."""
    FLAGS = ("--metrics-port", "0")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        line = cls.server.proc.stdout.readline()
        m = re.fullmatch(r"metrics listening on 127\.0\.0\.1:(\d+)\n", line)
        if not m:
            cls.server.stop()
            raise AssertionError(f"no metrics line: {line!r}")
        cls.metrics_port = int(m.group(1))

    def scrape(self):
        r = subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT),
                            f"http://127.0.0.1:{self.metrics_port}/metrics"],
                           capture_output=True, text=True, timeout=TIMEOUT + 5)
        self.assertEqual(r.returncode, 0, r.stderr)
        return {l.split()[0]: int(l.split()[1]) for l in r.stdout.splitlines()
                if l and not l.startswith("#")}

    def test_handshakes_and_failures_are_counted(self):
        before = self.scrape()
        self.assertEqual(self.tls_cli("PING"), "PONG\n")
        plain = kvtest.Conn(self.port)
        self.addCleanup(plain.close)
        plain.send("PING")
        self.assertTrue(plain.closed_by_peer())
        after = self.scrape()
        self.assertEqual(after["kv_tls_handshakes_total"] - before["kv_tls_handshakes_total"], 1)
        key = 'kv_tls_handshake_failures_total{reason="not_tls"}'
        self.assertEqual(after[key] - before[key], 1)


class Flags(unittest.TestCase):
    def run_kv(self, *flags):
        return subprocess.run([BIN, "--port", "0", *flags], capture_output=True, text=True,
                              timeout=TIMEOUT)

    def test_cert_without_key_is_a_usage_error(self):
        r = self.run_kv("--tls-cert", cert("server.pem"))
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_verify_without_ca_is_a_usage_error(self):
        r = self.run_kv(*tls_flags("--tls-verify-client", "require"))
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_key_that_does_not_match_stops_the_start(self):
        r = self.run_kv("--tls-cert", cert("server.pem"), "--tls-key", cert("wrong.key"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("kv-server:", r.stderr)
        self.assertNotIn("listening on", r.stdout)


if __name__ == "__main__":
    if not (BIN and MAKE_CERTS and CERTS):
        raise SystemExit("set KV_SERVER_BIN, MAKE_TEST_CERTS and KV_CERT_DIR")
    made = subprocess.run([MAKE_CERTS, CERTS], capture_output=True, text=True, timeout=60)
    if made.returncode != 0:
        raise SystemExit(f"make-test-certs.sh failed: {made.stderr}")
    unittest.main()
