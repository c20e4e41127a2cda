"""kvtest.py: what the kv-server black-box tests share.

  start_kv(binary, *flags)   kv-server on 127.0.0.1 port 0; reads its port from
                             the first stdout line (`listening on 127.0.0.1:PORT`);
                             with KV_MODEL=threads in the environment, it runs
                             `--model threads` (the same tests, the other model)
  MODEL                      the model under test ("epoll" or "threads")
  epoll_only                 a unittest decorator: skipped under --model threads
  ServerCase                 a unittest class with its own kv-server (KV_SERVER_BIN),
                             started once with the class's FLAGS; the class fails
                             if the server does not exit 0 on SIGTERM
  wait_until(predicate)      polls until predicate() is true or a deadline passes
  start_redis()              Debian's redis-server on a free port: bind 127.0.0.1:0,
                             close, start redis-server there (retried on a collision)
  Conn(port)                 a raw RESP2 connection: send words, read parsed replies

Replies are parsed into Python values so two servers can be compared: bytes for
bulk and simple strings, int for integers, Error(text) for errors, None for a
null, lists for arrays. Every read has a deadline; every process is stopped by
the PID we started (SIGTERM, then SIGKILL if it hangs).
"""
import os
import signal
import socket
import subprocess
import time
import unittest

DEADLINE = 10.0

MODEL = os.environ.get("KV_MODEL", "epoll")

def epoll_only(test):
    """Marks a test of what only the epoll model does: skipped under --model threads."""
    return unittest.skipIf(MODEL == "threads", "--model epoll only")(test)


class Error(str):
    """An error reply (its text, without the leading '-')."""

    def __repr__(self):
        return f"Error({str.__repr__(self)})"


class Server:
    def __init__(self, proc, port, name):
        self.proc, self.port, self.name = proc, port, name

    def stop(self):
        """SIGTERM, wait; returns the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def stderr_text(self):
        """What it wrote to stderr (after stop()); closes its pipes."""
        text = self.proc.stderr.read() if self.proc.stderr else ""
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe:
                pipe.close()
        return text if isinstance(text, str) else text.decode(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.stderr_text()


def start_kv(binary, *flags):
    if MODEL != "epoll":
        flags = ("--model", MODEL, *flags)
    proc = subprocess.Popen([binary, "--port", "0", *flags], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on 127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"kv-server did not announce its port: {line!r} {proc.stderr.read()}")
    return Server(proc, int(line.rsplit(":", 1)[1]), "kv-server")


class ServerCase(unittest.TestCase):
    """One kv-server for the whole class, on port 0 (cls.server, cls.port).

    Subclasses set FLAGS, or override server_flags() to add their own (TLS).
    A non-zero exit on SIGTERM fails the class: a sanitizer's report shows so.
    """
    FLAGS = ()

    @classmethod
    def server_flags(cls):
        return cls.FLAGS

    @classmethod
    def setUpClass(cls):
        cls.server = start_kv(os.environ.get("KV_SERVER_BIN", ""), *cls.server_flags())
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        stderr = cls.server.stderr_text()
        assert status == 0, f"kv-server exited with {status} on SIGTERM: {stderr[-2000:]}"


def wait_until(predicate, deadline=DEADLINE, step=0.02):
    """Polls predicate until it is true or deadline seconds pass; returns its last value."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(*flags, attempts=5):
    """redis-server --port 0 does not say which port it got: choose one ourselves."""
    for _ in range(attempts):
        port = free_port()
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", *flags],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return Server(proc, port, "redis-server")
            except OSError:
                time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    raise RuntimeError("redis-server did not start")


def encode(words):
    out = [b"*%d\r\n" % len(words)]
    for w in words:
        b = w if isinstance(w, bytes) else str(w).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Conn:
    def __init__(self, port, timeout=DEADLINE):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, *words):
        self.sock.sendall(encode(words))

    def call(self, *words):
        self.send(*words)
        return self.read()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return Error(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(f"not a RESP reply: {line!r}")

    def closed_by_peer(self, wait=DEADLINE):
        """True when the server closes the connection (EOF) within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
