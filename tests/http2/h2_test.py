#!/usr/bin/python3
"""HTTP/2 (h2c, prior knowledge; or h2 over TLS with --tls) black-box tests of one server binary.

    h2_test.py --server BIN [--tls] [--graceful-signal TERM|QUIT] [-- EXTRA SERVER ARGS]

Starts BIN on 127.0.0.1 port 0 (it prints `listening on 127.0.0.1:PORT` first)
over a document root made in a temporary directory, then checks it with:

  - real clients: curl --http2-prior-knowledge and nghttp (GET, HEAD, 304, 206,
    404, a 4 MiB file by checksum, 100 concurrent streams on one connection), and
    that HTTP/1.1 still works on the same port;
  - frames written by hand and with Python's h2 (Debian's python3-h2, hence
    /usr/bin/python3): malformed frames, a rapid-reset flood, a CONTINUATION flood,
    each answered with GOAWAY and a close while the server keeps serving others;
  - a client that never reads: others are still served;
  - graceful shutdown: the graceful signal (SIGTERM for stage 4, SIGQUIT for
    stage 5's master) during a 4 MiB download lets it finish, GOAWAY(0) is sent,
    and the server exits 0;
  - the middleware chain: X-Request-Id echoed and in the access log with the
    peer's address; the per-client rate limit answers 429 to h2 streams.

With --tls, H2TlsTest and ShutdownTest run: certificates from tools/make-test-certs.sh
in the test's temporary directory, the server started with --tls-cert/--tls-key, and

  - curl --http2 --cacert (ALPN h2): GET, 404, a 1 MiB file by SHA-256; 4 MiB
    to a client that reads slowly through a small receive buffer;
  - nghttp over TLS: 20 concurrent streams on one connection;
  - Python's ssl + h2 with ALPN ["h2"]: the client's last handshake flight and its
    first HTTP/2 frames in one send, so they reach the server together (the
    bytes that came with the handshake must not be lost);
  - a client offering only http/1.1 (curl --http1.1, Python's ssl) gets HTTP/1.1;
  - the hostile cases and graceful shutdown above, over TLS (a memory-BIO client,
    TlsPipe, in place of the plain socket).

Every wait has a deadline (a hang becomes a named failure); no timing is asserted.
Only loopback traffic; only the processes this script starts are signalled.
"""
import argparse
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import ssl

import h2.config
import h2.connection
import h2.events
import hpack

SERVER = None  # argparse result, set in main()
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DEADLINE = 20.0  # seconds any one wait may take before the test fails by name

# Frame types and error codes (RFC 9113).
DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY, CONTINUATION = 0x0, 0x1, 0x3, 0x4, 0x7, 0x9
END_STREAM, END_HEADERS = 0x1, 0x4
NO_ERROR, PROTOCOL_ERROR, FRAME_SIZE_ERROR, ENHANCE_YOUR_CALM = 0x0, 0x1, 0x6, 0xB


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream & 0x7FFFFFFF) + payload


def get_block(path="/hello.txt", encoder=None):
    encoder = encoder or hpack.Encoder()
    return encoder.encode([(":method", "GET"), (":scheme", "http"),
                           (":authority", "127.0.0.1"), (":path", path)])


class Server:
    """One server process over one document root (`https`: over TLS)."""

    def __init__(self, binary, args, root, https=False):
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--bind", "127.0.0.1", "--root", root, "--log-level", "warn"]
            + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"server did not announce its port: {line!r} "
                               f"{self.proc.stderr.read()}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.url = f"{'https' if https else 'http'}://127.0.0.1:{self.port}"

    def stop(self):
        """SIGTERM, then the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()


def make_root(base):
    root = os.path.join(base, "root")
    os.makedirs(os.path.join(root, "sub"))
    files = {
        "hello.txt": b"Hello, HTTP/2!\n",
        "index.html": b"<!doctype html><title>h2</title><p>home</p>\n",
        "sub/page.txt": b"a page in sub\n",
        "big.bin": os.urandom(4 * 1024 * 1024),
        "page.html": b"x" * 4096,
    }
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    return root, files


def run(cmd, timeout=DEADLINE):
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


def curl(url, *extra):
    """curl over h2c with prior knowledge; returns (status, headers dict, body, version)."""
    r = run(["curl", "-s", "--http2-prior-knowledge", "-D", "-", "-w", "\n%{http_version}",
             "--max-time", str(int(DEADLINE)), *extra, url])
    if r.returncode != 0:
        raise AssertionError(f"curl {url} failed ({r.returncode}): {r.stderr!r}")
    out, _, version = r.stdout.rpartition(b"\n")
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body, version.decode()


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    s.settimeout(DEADLINE)
    return s


def make_certs(base):
    """tools/make-test-certs.sh into base/certs; returns (CA file, the server's TLS flags)."""
    certs = os.path.join(base, "certs")
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                        "make-test-certs.sh")
    r = run([tool, certs], timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"make-test-certs.sh failed: {r.stderr!r}")
    return os.path.join(certs, "ca.pem"), ["--tls-cert", os.path.join(certs, "server.pem"),
                                           "--tls-key", os.path.join(certs, "server.key")]


class TlsPipe:
    """A TLS client over memory BIOs, ALPN h2, with a socket's sendall/recv/close on plaintext.

    The handshake's last flight (the client's Finished) is not sent on its own: it leaves
    with the first sendall(), so the server reads it together with the first frames."""

    def __init__(self, port, ca, alpn=("h2",)):
        context = ssl.create_default_context(cafile=ca)
        context.set_alpn_protocols(list(alpn))
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="127.0.0.1")
        self.sock = connect(port)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if self.outgoing.pending:
                    self.sock.sendall(self.outgoing.read())
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("the server closed during the handshake")
                self.incoming.write(data)

    def alpn(self):
        return self.tls.selected_alpn_protocol()

    def sendall(self, data):
        self.tls.write(data)
        self.sock.sendall(self.outgoing.read())

    def recv(self, size=65536):
        """Plaintext of every record that arrived; b"" once the server has closed."""
        while True:
            plain = b""
            while len(plain) < size:
                try:
                    chunk = self.tls.read(size - len(plain))
                except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                    break
                if not chunk:
                    break
                plain += chunk
            if plain:
                return plain
            data = self.sock.recv(65536)
            if not data:
                return b""
            self.incoming.write(data)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def preface(window=None):
    """The client preface and SETTINGS; with `window`, stream and connection windows that big."""
    if window is None:
        return PREFACE + frame(SETTINGS, 0, 0)
    return (PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, window))
            + frame(0x8, 0, 0, struct.pack(">I", window - 65535)))


def download(path):
    """Preface, windows so large that no WINDOW_UPDATE is needed, and GET `path` on stream 1."""
    return preface(2 ** 31 - 1) + frame(HEADERS, END_STREAM | END_HEADERS, 1, get_block(path))


def read_stream_1(conn, on_first_data=None, until_close=False):
    """Reads frames until stream 1 ends (or, with until_close, until the server closes);
    returns (body, ended, the GOAWAY's error code or None).

    Read frame by frame, not with h2's state machine: h2 would refuse DATA after a GOAWAY,
    which the RFC allows a server to send. `on_first_data` is called once, on the first DATA."""
    body, ended, goaway, pending = b"", False, None, b""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            data = conn.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        pending += data
        while len(pending) >= 9:
            length = int.from_bytes(pending[:3], "big")
            if len(pending) < 9 + length:
                break
            ftype, flags, stream = pending[3], pending[4], int.from_bytes(pending[5:9], "big")
            payload, pending = pending[9:9 + length], pending[9 + length:]
            if ftype == DATA and stream == 1:
                if not body and on_first_data:
                    on_first_data()
                body += payload
                ended = ended or bool(flags & END_STREAM)
            elif ftype == GOAWAY:
                goaway = int.from_bytes(payload[4:8], "big")
        if ended and not until_close:
            break
    return body, ended, goaway


def read_frames_until_close(sock, limit=64 * 1024 * 1024):
    """Reads server frames until EOF; returns the list of (type, flags, stream, payload)."""
    data = b""
    deadline = time.monotonic() + DEADLINE
    while len(data) < limit and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    frames, at = [], 0
    while at + 9 <= len(data):
        length = int.from_bytes(data[at:at + 3], "big")
        ftype, flags = data[at + 3], data[at + 4]
        stream = int.from_bytes(data[at + 5:at + 9], "big") & 0x7FFFFFFF
        frames.append((ftype, flags, stream, data[at + 9:at + 9 + length]))
        at += 9 + length
    return frames


def goaway_code(frames):
    for ftype, _, _, payload in frames:
        if ftype == GOAWAY:
            return int.from_bytes(payload[4:8], "big")
    return None


class HostileClientCases:
    """Malformed frames and the two floods; the class mixing this in provides open() (a
    connection, h2c or TLS, with sendall/recv/close) and assert_still_serving()."""

    def test_malformed_frames_get_goaway(self):
        cases = [
            ("SETTINGS of 5 bytes", frame(SETTINGS, 0, 0, b"12345"), FRAME_SIZE_ERROR),
            ("DATA on stream 0", frame(DATA, 0, 0, b"x"), PROTOCOL_ERROR),
            ("HEADERS on an even stream",
             frame(HEADERS, END_STREAM | END_HEADERS, 2, get_block()), PROTOCOL_ERROR),
        ]
        for what, payload, code in cases:
            with self.subTest(what), self.open() as s:
                s.sendall(preface() + payload)
                self.assertEqual(goaway_code(read_frames_until_close(s)), code, what)
        with self.open() as s:  # not even a preface after the magic
            s.sendall(PREFACE + b"\xff" * 64)
            self.assertIsNotNone(goaway_code(read_frames_until_close(s)))
        self.assert_still_serving()

    def test_rapid_reset_flood_is_cut_off(self):
        config = h2.config.H2Configuration(client_side=True)
        conn = h2.connection.H2Connection(config=config)
        conn.initiate_connection()
        with self.open() as s:
            s.sendall(conn.data_to_send())
            for i in range(500):  # HEADERS and at once RST_STREAM, 500 times
                stream = conn.get_next_available_stream_id()
                conn.send_headers(stream, [(":method", "GET"), (":scheme", "http"),
                                           (":authority", "127.0.0.1"), (":path", "/big.bin")],
                                  end_stream=True)
                conn.reset_stream(stream)
            try:
                s.sendall(conn.data_to_send())
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may already have hung up: the GOAWAY is still readable
            frames = read_frames_until_close(s)
        self.assertEqual(goaway_code(frames), ENHANCE_YOUR_CALM)
        self.assert_still_serving()

    def test_continuation_flood_is_cut_off(self):
        with self.open() as s:
            out = preface() + frame(HEADERS, END_STREAM, 1, get_block())  # no END_HEADERS
            out += b"".join(frame(CONTINUATION, 0, 1, b"") for _ in range(1000))
            try:
                s.sendall(out)
            except (BrokenPipeError, ConnectionResetError):
                pass
            frames = read_frames_until_close(s)
        self.assertEqual(goaway_code(frames), ENHANCE_YOUR_CALM)
        self.assertFalse(any(t == HEADERS for t, _, _, _ in frames), "the request was answered")
        self.assert_still_serving()


class H2Test(HostileClientCases, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="serverlab-h2-")
        cls.root, cls.files = make_root(cls.tmp.name)
        cls.server = Server(SERVER.server, SERVER.args, cls.root)

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        cls.tmp.cleanup()
        if status != 0:
            raise AssertionError(f"server exit status {status} (expected 0 after SIGTERM)")

    def open(self):
        return connect(self.server.port)

    def assert_still_serving(self):
        status, _, body, version = curl(self.server.url + "/hello.txt")
        self.assertEqual((status, body, version), (200, self.files["hello.txt"], "2"))

    # ---- real clients

    def test_get_head_404_over_curl(self):
        status, headers, body, version = curl(self.server.url + "/hello.txt")
        self.assertEqual(version, "2")
        self.assertEqual(status, 200)
        self.assertEqual(body, self.files["hello.txt"])
        self.assertEqual(headers["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(headers["content-length"], str(len(body)))
        status, headers, body, _ = curl(self.server.url + "/hello.txt", "-I", "-o", "/dev/null")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers["content-length"], str(len(self.files["hello.txt"])))
        status, _, body, _ = curl(self.server.url + "/nope.txt")
        self.assertEqual(status, 404)
        self.assertIn(b"404", body)

    def test_conditional_304_and_range_206(self):
        _, headers, _, _ = curl(self.server.url + "/big.bin", "-I", "-o", "/dev/null")
        status, h304, body, _ = curl(self.server.url + "/big.bin", "-H",
                                     f"If-None-Match: {headers['etag']}")
        self.assertEqual((status, body), (304, b""))
        self.assertEqual(h304["etag"], headers["etag"])
        status, h206, body, _ = curl(self.server.url + "/big.bin", "-H", "Range: bytes=1000-1999")
        self.assertEqual(status, 206)
        self.assertEqual(body, self.files["big.bin"][1000:2000])
        self.assertEqual(h206["content-range"], f"bytes 1000-1999/{4 * 1024 * 1024}")

    def test_directory_redirect_and_listing(self):
        status, headers, _, _ = curl(self.server.url + "/sub")
        self.assertEqual(status, 301)
        self.assertEqual(headers["location"], "/sub/")
        status, _, body, _ = curl(self.server.url + "/sub/")
        self.assertEqual(status, 200)
        self.assertIn(b"page.txt", body)

    def test_big_file_checksum_curl_and_nghttp(self):
        want = hashlib.sha256(self.files["big.bin"]).hexdigest()
        _, _, body, _ = curl(self.server.url + "/big.bin")
        self.assertEqual(hashlib.sha256(body).hexdigest(), want)
        r = run(["nghttp", "-t", str(int(DEADLINE)), self.server.url + "/big.bin"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(hashlib.sha256(r.stdout).hexdigest(), want)

    def test_hundred_concurrent_streams_on_one_connection(self):
        r = run(["nghttp", "-n", "-s", "-m", "100", "-t", str(int(DEADLINE)),
                 self.server.url + "/page.html"])
        self.assertEqual(r.returncode, 0, r.stderr)
        answered = [line for line in r.stdout.decode().splitlines()
                    if line.strip().endswith("/page.html") and " 200 " in line]
        self.assertEqual(len(answered), 100, r.stdout.decode()[-2000:])

    def test_http11_still_works_on_the_same_port(self):
        r = run(["curl", "-s", "--http1.1", "-w", "%{http_version}", "--max-time",
                 str(int(DEADLINE)), self.server.url + "/hello.txt"])
        self.assertEqual(r.stdout, self.files["hello.txt"] + b"1.1")

    def test_client_that_never_reads_does_not_stall_others(self):
        config = h2.config.H2Configuration(client_side=True)
        conn = h2.connection.H2Connection(config=config)
        conn.initiate_connection()
        conn.increment_flow_control_window(2 ** 30)
        lazy = socket.socket()
        lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lazy.connect(("127.0.0.1", self.server.port))
        try:
            for _ in range(10):  # 40 MiB asked for, none of it read
                stream = conn.get_next_available_stream_id()
                conn.send_headers(stream, [(":method", "GET"), (":scheme", "http"),
                                           (":authority", "127.0.0.1"), (":path", "/big.bin")],
                                  end_stream=True)
                conn.increment_flow_control_window(2 ** 24, stream_id=stream)
            lazy.sendall(conn.data_to_send())
            time.sleep(0.3)  # let the server fill that socket
            for _ in range(3):
                self.assert_still_serving()
            self.test_big_file_checksum_curl_and_nghttp()
        finally:
            lazy.close()


class ShutdownTest(unittest.TestCase):
    """The graceful signal while a 4 MiB body is in flight: it completes, GOAWAY(0), exit 0.
    With --tls, over TLS (ALPN h2)."""

    def test_graceful_shutdown_finishes_streams_in_flight(self):
        with tempfile.TemporaryDirectory(prefix="serverlab-h2-") as tmp:
            root, files = make_root(tmp)
            ca, tls_args = make_certs(tmp) if SERVER.tls else (None, [])
            server = Server(SERVER.server, SERVER.args + tls_args, root, https=SERVER.tls)
            signalled = []

            def signal_once():
                server.proc.send_signal(SERVER.graceful_signal)  # mid-body
                signalled.append(True)
            try:
                conn = TlsPipe(server.port, ca) if SERVER.tls else connect(server.port)
                with conn:
                    conn.sendall(download("/big.bin"))
                    body, ended, goaway = read_stream_1(conn, on_first_data=signal_once,
                                                         until_close=True)
                self.assertTrue(signalled)
                self.assertTrue(ended, f"stream did not end ({len(body)} bytes)")
                self.assertEqual(hashlib.sha256(body).digest(),
                                 hashlib.sha256(files["big.bin"]).digest())
                self.assertEqual(goaway, NO_ERROR)
            finally:
                self.assertEqual(server.stop(), 0)


class MiddlewareTest(unittest.TestCase):
    """HTTP/2 streams go through the middleware chain with the connection's peer address:
    X-Request-Id is taken (or made), echoed and logged next to the peer; the per-client rate
    limit counts h2 requests (it skips requests with no peer address)."""

    def test_request_id_and_peer_in_the_access_log(self):
        with tempfile.TemporaryDirectory(prefix="serverlab-h2-") as tmp:
            root, files = make_root(tmp)
            log = os.path.join(tmp, "access.log")
            server = Server(SERVER.server, SERVER.args + [
                "--request-id", "on", "--access-log", log, "--access-log-format", "json"], root)
            try:
                status, headers, body, version = curl(server.url + "/hello.txt", "-H",
                                                      "X-Request-Id: h2-test-42")
                self.assertEqual((status, version, body), (200, "2", files["hello.txt"]))
                self.assertEqual(headers.get("x-request-id"), "h2-test-42")
                _, headers, _, _ = curl(server.url + "/nope.txt")  # none sent: one is made
                made = headers.get("x-request-id", "")
                self.assertRegex(made, r"^[0-9a-f]{16}-[0-9a-f]{8}$")
            finally:
                self.assertEqual(server.stop(), 0)
            with open(log) as f:
                records = [json.loads(line) for line in f if line.strip()]
        by_id = {r.get("request_id"): r for r in records}
        self.assertIn("h2-test-42", by_id, records)
        self.assertEqual(by_id["h2-test-42"]["peer"], "127.0.0.1")
        self.assertEqual(by_id["h2-test-42"]["request"], "GET /hello.txt HTTP/2.0")
        self.assertEqual(by_id[made]["status"], 404)

    def test_rate_limit_counts_h2_requests(self):
        with tempfile.TemporaryDirectory(prefix="serverlab-h2-") as tmp:
            root, _ = make_root(tmp)
            server = Server(SERVER.server, SERVER.args + [
                "--rate-limit", "1", "--rate-limit-burst", "3"], root)
            try:  # 10 streams on one connection at once: the bucket holds 3
                r = run(["nghttp", "-n", "-s", "-m", "10", "-t", str(int(DEADLINE)),
                         server.url + "/page.html"])
                lines = [line for line in r.stdout.decode().splitlines()
                         if line.strip().endswith("/page.html")]
                statuses = sorted(int(line.split()[-3]) for line in lines)  # code, size, path
            finally:
                self.assertEqual(server.stop(), 0)
        self.assertEqual(len(statuses), 10, r.stdout.decode()[-2000:])
        self.assertIn(200, statuses)
        self.assertIn(429, statuses)


class H2TlsTest(HostileClientCases, unittest.TestCase):
    """HTTP/2 over TLS, chosen by ALPN; HTTP/1.1 for a client that offers only that."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="serverlab-h2tls-")
        cls.root, cls.files = make_root(cls.tmp.name)
        cls.files["mib.bin"] = os.urandom(1024 * 1024)
        with open(os.path.join(cls.root, "mib.bin"), "wb") as f:
            f.write(cls.files["mib.bin"])
        cls.ca, tls_args = make_certs(cls.tmp.name)
        cls.server = Server(SERVER.server, SERVER.args + tls_args, cls.root, https=True)

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        cls.tmp.cleanup()
        if status != 0:
            raise AssertionError(f"server exit status {status} (expected 0 after SIGTERM)")

    def curl(self, path, *extra):
        """curl over TLS, verifying the server against the test CA."""
        r = run(["curl", "-s", "--cacert", self.ca, "-w", "\n%{http_version}",
                 "--max-time", str(int(DEADLINE)), *extra, self.server.url + path])
        if r.returncode != 0:
            raise AssertionError(f"curl {path} failed ({r.returncode}): {r.stderr!r}")
        body, _, version = r.stdout.rpartition(b"\n")
        return body, version.decode()

    def open(self):
        return TlsPipe(self.server.port, self.ca)

    def assert_still_serving(self):
        self.assertEqual(self.curl("/hello.txt", "--http2"), (self.files["hello.txt"], "2"))

    def tls_socket(self, alpn):
        """A TLS client socket offering `alpn`, handshake done."""
        context = ssl.create_default_context(cafile=self.ca)
        context.set_alpn_protocols(alpn)
        return context.wrap_socket(connect(self.server.port), server_hostname="127.0.0.1")

    def test_get_and_404_over_h2(self):
        body, version = self.curl("/hello.txt", "--http2")
        self.assertEqual((body, version), (self.files["hello.txt"], "2"))
        r = run(["curl", "-s", "--http2", "--cacert", self.ca, "-o", "/dev/null", "-w",
                 "%{http_code} %{http_version}", "--max-time", str(int(DEADLINE)),
                 self.server.url + "/nope.txt"])
        self.assertEqual(r.stdout, b"404 2")

    def test_mib_file_checksum_over_h2(self):
        body, version = self.curl("/mib.bin", "--http2")
        self.assertEqual(version, "2")
        self.assertEqual(hashlib.sha256(body).hexdigest(),
                         hashlib.sha256(self.files["mib.bin"]).hexdigest())

    def test_twenty_concurrent_streams_on_one_connection(self):
        r = run(["nghttp", "-n", "-s", "-m", "20", "-t", str(int(DEADLINE)),
                 self.server.url + "/page.html"])
        self.assertEqual(r.returncode, 0, r.stderr)
        answered = [line for line in r.stdout.decode().splitlines()
                    if line.strip().endswith("/page.html") and " 200 " in line]
        self.assertEqual(len(answered), 20, r.stdout.decode()[-2000:])

    def test_first_frames_with_the_last_handshake_flight(self):
        # TlsPipe sends the client's Finished and its first HTTP/2 frames (preface,
        # SETTINGS, a GET) in one send, so the server reads them together.
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [(":method", "GET"), (":scheme", "https"),
                                   (":authority", "127.0.0.1"), (":path", "/hello.txt")],
                          end_stream=True)
        with self.open() as s:
            self.assertEqual(s.alpn(), "h2")
            s.sendall(conn.data_to_send())  # with the Finished still waiting
            body, ended = b"", False
            deadline = time.monotonic() + DEADLINE
            while not ended and time.monotonic() < deadline:
                data = s.recv()
                if not data:
                    break
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.DataReceived):
                        body += event.data
                    elif isinstance(event, h2.events.StreamEnded):
                        ended = True
                if conn.data_to_send():  # SETTINGS ack and the like
                    s.sendall(conn.data_to_send())
        self.assertTrue(ended, "no complete answer")
        self.assertEqual(body, self.files["hello.txt"])

    def test_slow_reader_gets_the_whole_file(self):
        # A small receive buffer and a pause before reading: the server's socket
        # fills, so records wait as ciphertext; every one must still be sent once
        # there is room, also when the HTTP/2 session itself has nothing more to say.
        context = ssl.create_default_context(cafile=self.ca)
        context.set_alpn_protocols(["h2"])
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.settimeout(DEADLINE)
        raw.connect(("127.0.0.1", self.server.port))
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            self.assertEqual(s.selected_alpn_protocol(), "h2")
            s.sendall(download("/big.bin"))
            time.sleep(0.5)  # let the server fill the socket
            body, ended, _ = read_stream_1(s)
        self.assertTrue(ended, f"stream did not end ({len(body)} bytes)")
        self.assertEqual(hashlib.sha256(body).digest(),
                         hashlib.sha256(self.files["big.bin"]).digest())

    def test_http11_client_still_gets_http11(self):
        body, version = self.curl("/hello.txt", "--http1.1")  # offers only http/1.1
        self.assertEqual((body, version), (self.files["hello.txt"], "1.1"))
        with self.tls_socket(["http/1.1"]) as s:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
            s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b""
            while True:
                data = s.recv(65536)
                if not data:
                    break
                answer += data
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:200])
        self.assertTrue(answer.endswith(self.files["hello.txt"]))


def main():
    global SERVER
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="the server binary")
    parser.add_argument("--graceful-signal", default="TERM", choices=["TERM", "QUIT", "INT"],
                        help="the signal that stops the server gracefully (default TERM)")
    parser.add_argument("--tls", action="store_true",
                        help="test HTTP/2 over TLS (ALPN h2) instead of h2c")
    parser.add_argument("args", nargs="*", help="extra server arguments (after --)")
    SERVER, rest = parser.parse_known_args()
    SERVER.graceful_signal = getattr(signal, "SIG" + SERVER.graceful_signal)
    tests = (["H2TlsTest", "ShutdownTest"] if SERVER.tls
             else ["H2Test", "ShutdownTest", "MiddlewareTest"])
    unittest.main(argv=[sys.argv[0]] + rest, defaultTest=tests, verbosity=2)


if __name__ == "__main__":
    main()
