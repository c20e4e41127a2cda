#!/usr/bin/python3
"""clients_test.py: kv-server under real clients (redis-py, redis-cli) and raw sockets.

    KV_SERVER_BIN=/path/to/kv-server clients_test.py [unittest args]

Each class starts its own kv-server on port 0 with the flags it tests. With
KV_MODEL=threads every server runs `--model threads`, and the tests marked
@kvtest.epoll_only (allkeys-lru, refused at start
by that model) are skipped: threads_test.py covers that model's own limits. Waits are
bounded by deadlines (a hang fails by name); nothing here measures speed.
"""
import os
import socket
import subprocess
import time
import unittest

import shutil
import signal
import sys
import tempfile

try:
    import redis
except ImportError:  # not Debian's python3, or python3-redis not installed
    print("redis-py (python3-redis) is missing: skipped")
    sys.exit(77)

import kvtest

BIN = os.environ.get("KV_SERVER_BIN", "")
wait_until = kvtest.wait_until


class ServerCase(kvtest.ServerCase):
    def client(self, **kw):
        r = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10, **kw)
        self.addCleanup(r.close)
        return r

    def raw(self):
        c = kvtest.Conn(self.port)
        self.addCleanup(c.close)
        return c


class RedisPy(ServerCase):
    def setUp(self):
        self.client().flushall()

    def test_strings_and_types(self):
        r = self.client()
        self.assertTrue(r.set("a", "1", ex=100))
        self.assertEqual(r.get("a"), b"1")
        self.assertEqual(r.incrby("a", 41), 42)
        self.assertEqual(r.type("a"), b"string")
        r.rpush("l", "x", "y")
        self.assertEqual(r.lrange("l", 0, -1), [b"x", b"y"])
        r.hset("h", mapping={"f": "v", "g": "w"})
        self.assertEqual(r.hgetall("h"), {b"f": b"v", b"g": b"w"})
        r.sadd("s", "m", "n")
        self.assertEqual(r.smembers("s"), {b"m", b"n"})
        with self.assertRaises(redis.ResponseError) as e:
            r.lpush("a", "x")
        self.assertIn("WRONGTYPE", str(e.exception))

    def test_pipeline_of_a_thousand(self):
        r = self.client()
        p = r.pipeline(transaction=False)
        for i in range(1000):
            p.set(f"k{i}", i)
            p.incr(f"k{i}")
        replies = p.execute()
        self.assertEqual(replies[1::2], list(range(1, 1001)))
        self.assertEqual(r.dbsize(), 1000)

    def test_scan_iter_sees_every_key(self):
        r = self.client()
        r.mset({f"key:{i}": i for i in range(500)})
        r.mset({f"other:{i}": i for i in range(50)})
        seen = set(r.scan_iter(match="key:*", count=20))
        self.assertEqual(seen, {f"key:{i}".encode() for i in range(500)})

    def test_transaction_and_watch(self):
        r, other = self.client(), self.client()
        r.set("w", 1)
        with r.pipeline() as p:
            p.watch("w")
            other.set("w", 2)  # another client changes the watched key
            p.multi()
            p.incr("w")
            with self.assertRaises(redis.WatchError):
                p.execute()
        with r.pipeline() as p:
            p.watch("w")
            p.multi()
            p.incr("w")
            self.assertEqual(p.execute(), [3])

    def test_watch_sees_a_key_expire(self):
        r = self.client()
        r.set("e", 1, px=150)
        with r.pipeline() as p:
            p.watch("e")
            time.sleep(0.3)  # expires without anyone touching it
            p.multi()
            p.set("x", 1)
            with self.assertRaises(redis.WatchError):
                p.execute()

    def test_execabort_after_a_queued_error(self):
        c = self.raw()
        self.assertEqual(c.call("MULTI"), b"OK")
        self.assertEqual(c.call("SET", "q", "1"), b"QUEUED")
        self.assertTrue(c.call("NOSUCHCMD").startswith("ERR unknown command"))
        self.assertEqual(c.call("EXEC"),
                         "EXECABORT Transaction discarded because of previous errors.")
        self.assertIsNone(c.call("GET", "q"))

    def test_pubsub_channels_and_patterns(self):
        r = self.client()
        ps = r.pubsub()
        self.addCleanup(ps.close)
        ps.subscribe("news")
        ps.psubscribe("n*")
        for _ in range(2):
            self.assertIsNotNone(ps.get_message(timeout=5))
        self.assertEqual(r.publish("news", "hello"), 2)
        got = [ps.get_message(timeout=5) for _ in range(2)]
        kinds = sorted(m["type"] for m in got)
        self.assertEqual(kinds, ["message", "pmessage"])
        self.assertTrue(all(m["data"] == b"hello" for m in got))
        self.assertEqual(r.pubsub_numsub("news"), [(b"news", 1)])
        self.assertEqual(r.pubsub_numpat(), 1)

    def test_subscribed_mode_refuses_other_commands(self):
        c = self.raw()
        self.assertEqual(c.call("SUBSCRIBE", "ch"), [b"subscribe", b"ch", 1])
        self.assertEqual(c.call("GET", "x"),
                         "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / "
                         "PING / QUIT / RESET are allowed in this context")
        self.assertEqual(c.call("PING"), [b"pong", b""])
        self.assertEqual(c.call("UNSUBSCRIBE"), [b"unsubscribe", b"ch", 0])
        self.assertEqual(c.call("GET", "x"), None)

    def test_blpop_wakes_on_a_push(self):
        waiter, pusher = self.raw(), self.client()
        waiter.send("BLPOP", "q1", "q2", "0")
        self.assertTrue(wait_until(lambda: pusher.info("clients")["blocked_clients"] == 1))
        pusher.rpush("q2", "job")
        self.assertEqual(waiter.read(), [b"q2", b"job"])
        self.assertEqual(pusher.exists("q2"), 0)  # the popped list was emptied and deleted

    def test_blpop_serves_the_first_waiter_first(self):
        first, second, pusher = self.raw(), self.raw(), self.client()
        first.send("BRPOP", "fifo", "0")
        self.assertTrue(wait_until(lambda: pusher.info("clients")["blocked_clients"] == 1))
        second.send("BRPOP", "fifo", "0")
        self.assertTrue(wait_until(lambda: pusher.info("clients")["blocked_clients"] == 2))
        pusher.rpush("fifo", "a", "b")
        self.assertEqual(first.read(), [b"fifo", b"b"])
        self.assertEqual(second.read(), [b"fifo", b"a"])

    def test_blocking_times_out(self):
        c = self.raw()
        start = time.monotonic()
        self.assertIsNone(c.call("BLPOP", "empty", "0.2"))
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, 0.15)
        self.assertEqual(c.call("PING"), b"PONG")  # the connection goes on

    def test_blmove_moves_on_a_push(self):
        waiter, pusher = self.raw(), self.client()
        waiter.send("BLMOVE", "from", "to", "LEFT", "RIGHT", "5")
        self.assertTrue(wait_until(lambda: pusher.info("clients")["blocked_clients"] == 1))
        pusher.lpush("from", "x")
        self.assertEqual(waiter.read(), b"x")
        self.assertEqual(pusher.lrange("to", 0, -1), [b"x"])

    def test_active_expiry_frees_keys_nobody_reads(self):
        r = self.client()
        p = r.pipeline(transaction=False)
        for i in range(2000):
            p.set(f"tmp{i}", "v", px=100)
        p.set("keep", "v")
        p.execute()
        # DBSIZE does not expire anything itself: only the cycle on the timer can.
        # The last few keys among the table's ~4,000 buckets are found by chance
        # (200 buckets a sample): seconds on a loaded machine, hence the deadline.
        self.assertTrue(wait_until(lambda: r.dbsize() == 1, deadline=30), f"dbsize {r.dbsize()}")
        self.assertGreaterEqual(r.info("stats")["expired_keys"], 2000)


class Protocol(ServerCase):
    def test_pipelined_raw_commands_in_one_write(self):
        c = self.raw()
        c.send_raw(b"".join(kvtest.encode(["INCR", "p"]) for _ in range(16)))
        self.assertEqual([c.read() for _ in range(16)], list(range(1, 17)))

    def test_inline_commands(self):
        c = self.raw()
        c.send_raw(b"SET inline \"a b\"\r\nGET inline\r\n\r\nPING\n")
        self.assertEqual([c.read() for _ in range(3)], [b"OK", b"a b", b"PONG"])

    def test_protocol_error_answers_then_closes(self):
        c = self.raw()
        c.send_raw(b"*1\r\n$-5\r\n")
        self.assertEqual(c.read(), "ERR Protocol error: invalid bulk length")
        self.assertTrue(c.closed_by_peer())
        self.assertEqual(self.raw().call("PING"), b"PONG")  # the server goes on

    def test_bulk_over_the_limit_is_refused_before_it_arrives(self):
        c = self.raw()
        c.send_raw(b"*2\r\n$3\r\nGET\r\n$2000000\r\n")  # --proto-max-bulk-len 1M
        self.assertEqual(c.read(), "ERR Protocol error: invalid bulk length")
        self.assertTrue(c.closed_by_peer())

    def test_a_large_value_arriving_in_pieces(self):
        c = self.raw()
        value = b"x" * 900_000
        data = kvtest.encode(["SET", "big", value])
        for i in range(0, len(data), 7000):
            c.send_raw(data[i:i + 7000])
        self.assertEqual(c.read(), b"OK")
        self.assertEqual(c.call("STRLEN", "big"), len(value))

    def test_a_client_that_reads_late_gets_every_reply(self):
        # 3,000 replies of 10 KB pile up past the 1 MiB pause: the server stops running
        # this client's commands until it reads, then carries on where it stopped.
        c = self.raw()
        self.assertEqual(c.call("SET", "v", "x" * 10_000), b"OK")
        c.send_raw(kvtest.encode(["GET", "v"]) * 3000 + kvtest.encode(["PING"]))
        time.sleep(0.3)  # let the server fill the socket and pause
        replies = [c.read() for _ in range(3001)]
        self.assertEqual(replies[-1], b"PONG")
        self.assertTrue(all(r == b"x" * 10_000 for r in replies[:-1]))

    def test_a_reset_peer_does_not_hurt(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(kvtest.encode(["BLPOP", "nothing", "0"]) + kvtest.encode(["PING"]))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST
        self.assertEqual(self.raw().call("PING"), b"PONG")

    FLAGS = ("--proto-max-bulk-len", "1M")


class Limits(ServerCase):
    FLAGS = ("--maxclients", "3", "--timeout", "1", "--output-limit", "256K")

    def setUp(self):
        # The clients of the test before may still hold slots (with --model threads
        # until their workers run): wait until a probe is the only client. Each probe
        # QUITs: the server closes it only after giving its slot back.
        def alone():
            probe = kvtest.Conn(self.port)
            try:
                reply = probe.call("INFO", "clients")  # or "max number of clients reached"
                if not isinstance(reply, bytes):
                    return False
                probe.call("QUIT")
                probe.closed_by_peer()
                return b"connected_clients:1\r\n" in reply
            except (OSError, EOFError):
                return False
            finally:
                probe.close()
        self.assertTrue(wait_until(alone))

    def test_maxclients(self):
        a, b, c = self.raw(), self.raw(), self.raw()
        for conn in (a, b, c):
            self.assertEqual(conn.call("PING"), b"PONG")
        # Clients of earlier tests may still be closing: wait for exactly our three.
        self.assertTrue(wait_until(lambda: a.call("CLIENT", "LIST").count(b"\n") == 3))
        d = self.raw()
        self.assertEqual(d.read(), "ERR max number of clients reached")
        self.assertTrue(d.closed_by_peer())
        self.assertEqual(a.call("INFO", "stats").decode().count("rejected_connections:0"), 0)

    def test_idle_client_is_closed_and_subscriber_spared(self):
        idle, sub = self.raw(), self.raw()
        self.assertEqual(idle.call("PING"), b"PONG")
        self.assertEqual(sub.call("SUBSCRIBE", "c"), [b"subscribe", b"c", 1])
        self.assertTrue(idle.closed_by_peer(wait=5))
        publisher = self.raw()
        self.assertEqual(publisher.call("PUBLISH", "c", "still here"), 1)
        self.assertEqual(sub.read(), [b"message", b"c", b"still here"])

    def test_slow_subscriber_is_disconnected(self):
        sub = socket.create_connection(("127.0.0.1", self.port))
        self.addCleanup(sub.close)
        sub.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sub.sendall(kvtest.encode(["SUBSCRIBE", "flood"]))
        pub = self.raw()
        wait_until(lambda: pub.call("PUBSUB", "NUMSUB", "flood")[1] == 1)
        message = b"m" * 100_000
        for _ in range(200):  # 20 MB into a subscriber that reads nothing
            if pub.call("PUBLISH", "flood", message) == 0:
                break
        self.assertEqual(pub.call("PUBSUB", "NUMSUB", "flood"), [b"flood", 0])
        info = pub.call("INFO", "stats").decode()
        self.assertIn("client_output_limit_disconnections:1", info)


class Auth(ServerCase):
    FLAGS = ("--requirepass", "s3cret")

    def test_noauth_then_auth(self):
        c = self.raw()
        self.assertEqual(c.call("GET", "a"), "NOAUTH Authentication required.")
        self.assertEqual(c.call("AUTH", "wrong"),
                         "WRONGPASS invalid username-password pair or user is disabled.")
        self.assertEqual(c.call("AUTH", "s3cret"), b"OK")
        self.assertEqual(c.call("PING"), b"PONG")

    def test_redis_py_with_password(self):
        r = self.client(password="s3cret")
        self.assertTrue(r.set("x", "y"))
        self.assertEqual(r.get("x"), b"y")


class ManySubscribers(ServerCase):
    # --model threads gives each client a worker for its whole life: 1,000
    # subscribers and a publisher need that many workers (the flag's maximum).
    FLAGS = ("--threads", "1024") if kvtest.MODEL == "threads" else ()

    def test_a_thousand_subscribers_each_get_the_message(self):
        subs = []
        for i in range(1000):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            s.sendall(kvtest.encode(["SUBSCRIBE", "all"]))
            subs.append(s)
        try:
            pub = self.raw()
            self.assertTrue(wait_until(lambda: pub.call("PUBSUB", "NUMSUB", "all")[1] == 1000))
            self.assertEqual(pub.call("PUBLISH", "all", "hi"), 1000)
            for s in subs:
                c = kvtest.Conn.__new__(kvtest.Conn)
                c.sock, c.buf = s, b""
                self.assertEqual(c.read(), [b"subscribe", b"all", 1])
                self.assertEqual(c.read(), [b"message", b"all", b"hi"])
        finally:
            for s in subs:
                s.close()


class Persistence(unittest.TestCase):
    """SAVE, BGSAVE, the dump at exit and at start, in Redis's RDB format."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kv-rdb-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.dump = os.path.join(self.dir, "dump.rdb")

    def start(self):
        server = kvtest.start_kv(BIN, "--dir", self.dir, "--dbfilename", "dump.rdb")
        self.addCleanup(server.stderr_text)
        self.addCleanup(server.stop)
        return server

    def fill(self, c):
        c.call("SET", "s", "value")
        c.call("SET", "n", "12345")
        c.call("SET", "t", "ttl", "EX", "1000")
        c.call("SET", "gone", "x", "PX", "1")
        c.call("RPUSH", "l", "a", "b", "c")
        c.call("HSET", "h", "f", "v", "g", "w")
        c.call("SADD", "z", "m1", "m2")
        c.call("SET", "big", "y" * 20000)

    def check(self, c):
        self.assertEqual(c.call("GET", "s"), b"value")
        self.assertEqual(c.call("GET", "n"), b"12345")
        self.assertGreater(c.call("TTL", "t"), 900)
        self.assertIsNone(c.call("GET", "gone"))
        self.assertEqual(c.call("LRANGE", "l", "0", "-1"), [b"a", b"b", b"c"])
        self.assertEqual(sorted(c.call("HGETALL", "h")), [b"f", b"g", b"v", b"w"])
        self.assertEqual(sorted(c.call("SMEMBERS", "z")), [b"m1", b"m2"])
        self.assertEqual(c.call("STRLEN", "big"), 20000)

    def wait_bgsave(self, c):
        self.assertTrue(wait_until(
            lambda: b"rdb_bgsave_in_progress:0" in c.call("INFO", "persistence")))

    def test_save_then_restart(self):
        server = self.start()
        c = kvtest.Conn(server.port)
        self.fill(c)
        time.sleep(0.01)
        self.assertEqual(c.call("SAVE"), b"OK")
        self.assertGreater(c.call("LASTSAVE"), 1_700_000_000)
        c.call("SET", "after", "save")  # written at exit, too
        c.close()
        self.assertEqual(server.stop(), 0)
        again = self.start()
        c = kvtest.Conn(again.port)
        self.check(c)
        self.assertEqual(c.call("GET", "after"), b"save")
        c.close()

    def test_bgsave_under_writes_and_redis_reads_the_dump(self):
        server = self.start()
        c, writer = kvtest.Conn(server.port), kvtest.Conn(server.port)
        self.fill(c)
        writer.send_raw(kvtest.encode(["INCR", "counter"]) * 20000)
        self.assertEqual(c.call("BGSAVE"), b"Background saving started")
        self.assertEqual([writer.read() for _ in range(20000)][-1], 20000)
        self.wait_bgsave(c)
        c.close()
        writer.close()
        if shutil.which("redis-check-rdb"):
            r = subprocess.run(["redis-check-rdb", self.dump], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with kvtest.start_redis("--dir", self.dir, "--dbfilename", "dump.rdb") as redis_server:
            rc = kvtest.Conn(redis_server.port)
            self.check(rc)
            counter = int(rc.call("GET", "counter") or 0)
            self.assertTrue(0 <= counter <= 20000)  # the snapshot is one instant of the writes
            rc.close()

    def test_a_killed_bgsave_leaves_the_previous_dump(self):
        server = self.start()
        c = kvtest.Conn(server.port)
        self.fill(c)
        self.assertEqual(c.call("SAVE"), b"OK")
        with open(self.dump, "rb") as f:
            before = f.read()
        c.send_raw(b"".join(kvtest.encode(["SET", f"k{i}", "v" * 100]) for i in range(100000)))
        for _ in range(100000):
            c.read()
        self.assertEqual(c.call("BGSAVE"), b"Background saving started")
        children = []  # of any thread: with --model threads a worker forks
        for task in os.listdir(f"/proc/{server.proc.pid}/task"):
            with open(f"/proc/{server.proc.pid}/task/{task}/children") as f:
                children += f.read().split()
        killed = False
        for pid in children:  # the BGSAVE child: kill -9 it once it is writing
            tmp = f"{self.dump}.tmp-{pid}"
            seen = wait_until(lambda: os.path.exists(tmp) and os.path.getsize(tmp) > 0,
                              deadline=5, step=0.001)
            try:
                os.kill(int(pid), signal.SIGKILL)
                killed = seen
            except ProcessLookupError:
                pass  # it finished first: this run proves nothing about a crash
        self.wait_bgsave(c)
        with open(self.dump, "rb") as f:
            after = f.read()
        if killed:
            self.assertEqual(after, before)
        print(f"BGSAVE child killed mid-write: {killed}", file=sys.stderr)
        self.assertEqual([n for n in os.listdir(self.dir) if ".tmp-" in n], [])
        c.close()

    def test_persistence_off_refuses_save(self):
        server = kvtest.start_kv(BIN)
        self.addCleanup(server.stderr_text)
        self.addCleanup(server.stop)
        c = kvtest.Conn(server.port)
        self.assertEqual(c.call("SAVE"),
                         "ERR persistence is off: start kv-server with --dbfilename")
        c.close()

    def test_a_damaged_dump_stops_the_start(self):
        with open(self.dump, "wb") as f:
            f.write(b"REDIS0009\xfe\x00\x00\x01")  # a key cut short
        r = subprocess.run([BIN, "--port", "0", "--dir", self.dir, "--dbfilename", "dump.rdb"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("loading the dump", r.stderr)


class MaxMemory(unittest.TestCase):
    """--maxmemory with both policies: refuse writes, or evict the least recently used."""

    def start(self, *flags):
        server = kvtest.start_kv(BIN, *flags)
        self.addCleanup(server.stderr_text)
        self.addCleanup(server.stop)
        c = kvtest.Conn(server.port)
        self.addCleanup(c.close)
        return c

    def test_noeviction_refuses_writes_but_serves_reads_and_deletes(self):
        c = self.start("--maxmemory", "8M", "--maxmemory-policy", "noeviction")
        value = "v" * 1000
        refused = None
        for i in range(20000):  # at most 20 MB: well past the limit
            reply = c.call("SET", f"k{i}", value)
            if reply != b"OK":
                refused = reply
                break
        self.assertEqual(refused, "OOM command not allowed when used memory > 'maxmemory'.")
        self.assertEqual(c.call("GET", "k0"), value.encode())
        self.assertEqual(c.call("DEL", "k0", "k1", "k2"), 3)
        self.assertIn(b"evicted_keys:0", c.call("INFO", "stats"))

    @kvtest.epoll_only
    def test_allkeys_lru_evicts_cold_keys_and_keeps_a_hot_one(self):
        c = self.start("--maxmemory", "8M", "--maxmemory-policy", "allkeys-lru")
        value = "v" * 1000
        c.call("SET", "hot", "h")
        for i in range(20000):
            self.assertEqual(c.call("SET", f"k{i}", value), b"OK")  # never refused
            if i % 50 == 0:
                time.sleep(0.002)  # let the LRU clock (ms) move on
                self.assertEqual(c.call("GET", "hot"), b"h")  # touched: stays recent
        self.assertLess(c.call("DBSIZE"), 20001)
        self.assertEqual(c.call("GET", "hot"), b"h")
        self.assertEqual(c.call("GET", "k19999"), value.encode())  # the newest stays
        info = c.call("INFO", "stats").decode()
        self.assertNotIn("evicted_keys:0\r\n", info)


class CommandLine(unittest.TestCase):
    def test_help_and_a_bad_flag(self):
        r = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--requirepass", r.stdout)
        r = subprocess.run([BIN, "--no-such-flag"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown flag --no-such-flag", r.stderr)


@unittest.skipIf(shutil.which("redis-cli") is None, "redis-cli is not installed")
class RedisCli(ServerCase):
    def cli(self, *args, stdin=None):
        r = subprocess.run(["redis-cli", "-p", str(self.port), *args], input=stdin,
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_commands_from_the_command_line(self):
        self.assertEqual(self.cli("SET", "cli", "value"), "OK\n")
        self.assertEqual(self.cli("GET", "cli"), "value\n")
        self.assertEqual(self.cli("RPUSH", "cl", "a", "b"), "2\n")
        self.assertEqual(self.cli("LRANGE", "cl", "0", "-1"), "a\nb\n")
        self.assertIn("db0:keys=", self.cli("INFO", "keyspace"))

    def test_commands_on_stdin_like_a_session(self):
        out = self.cli(stdin="SET s1 v1\nGET s1\nINCR n\nCOMMAND COUNT\n")
        lines = out.splitlines()
        self.assertEqual(lines[:3], ["OK", "v1", "1"])
        self.assertGreater(int(lines[3]), 80)

    def test_pipe_mode_mass_insert(self):
        data = "".join(kvtest.encode(["SET", f"mass{i}", str(i)]).decode() for i in range(5000))
        r = subprocess.run(["redis-cli", "-p", str(self.port), "--pipe"], input=data,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("errors: 0, replies: 5000", r.stdout)
        self.assertEqual(self.cli("GET", "mass4999"), "4999\n")


if __name__ == "__main__":
    if not BIN:
        raise SystemExit("set KV_SERVER_BIN to the kv-server binary")
    unittest.main()
