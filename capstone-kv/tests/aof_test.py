#!/usr/bin/python3
"""aof_test.py: kv-server's append-only file (--appendonly yes), black box.

    KV_SERVER_BIN=/path/to/kv-server aof_test.py [unittest args]

Each test writes through redis-py or raw RESP, kills kv-server with SIGKILL (no
chance to save anything at exit), starts it again on the same --dir and compares
every key, type, value and absolute expiry time with what was there before. The
file itself is read too: relative expiry logged as absolute, SPOP as SREM, a served
BLPOP as LPOP, EXEC's commands between MULTI and EXEC, no line for a no-op. Then:
a file cut in mid-command still starts (cut back to its last whole command), a
corrupt one stops the start with exit 1, BGREWRITEAOF shrinks the file and loses
nothing written meanwhile, Debian's redis-check-aof accepts the file and Debian's
redis-server loads it. Waits are bounded by deadlines; nothing measures speed.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

try:
    import redis
except ImportError:  # not Debian's python3, or python3-redis not installed
    print("redis-py (python3-redis) is missing: skipped")
    sys.exit(77)

import kvtest

BIN = os.environ.get("KV_SERVER_BIN", "")
wait_until = kvtest.wait_until


def read_commands(path):
    """The commands of an AOF as lists of str (a minimal RESP reader of our own)."""
    with open(path, "rb") as f:
        data = f.read()
    commands, i = [], 0
    while i < len(data):
        end = data.index(b"\r\n", i)
        assert data[i:i + 1] == b"*", f"not an array at byte {i}"
        n, i, words = int(data[i + 1:end]), end + 2, []
        for _ in range(n):
            end = data.index(b"\r\n", i)
            length = int(data[i + 1:end])
            words.append(data[end + 2:end + 2 + length].decode())
            i = end + 2 + length + 2
        commands.append(words)
    return commands


def snapshot(r):
    """Every key -> (type, value, absolute expiry in ms or -1): the whole keyspace."""
    state = {}
    for key in r.scan_iter(count=1000):
        kind = r.type(key).decode()
        if kind == "string":
            value = r.get(key)
        elif kind == "list":
            value = r.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(r.smembers(key))
        elif kind == "hash":
            value = sorted(r.hgetall(key).items())
        else:
            value = None
        state[key] = (kind, value, r.execute_command("PEXPIRETIME", key))
    return state


class AofCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kv_aof_test_")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.aof = os.path.join(self.dir, "appendonly.aof")

    def start(self, *flags, fsync="always"):
        server = kvtest.start_kv(BIN, "--dir", self.dir, "--appendonly", "yes",
                                 "--appendfsync", fsync, *flags)
        self.addCleanup(server.stderr_text)
        self.addCleanup(server.stop)
        r = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=10)
        self.addCleanup(r.close)
        return server, r

    def kill(self, server):
        """SIGKILL: nothing runs at exit, only what the file already holds survives."""
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(kvtest.DEADLINE)
        return server.proc.stderr.read()

    def start_fails(self, *flags):
        return subprocess.run([BIN, "--port", "0", "--dir", self.dir, "--appendonly", "yes",
                               *flags], capture_output=True, text=True, timeout=10)


class Replay(AofCase):
    def fill(self, r):
        """One write of each kind whose logged form matters; returns the SPOP result."""
        r.set("s", "value")
        r.set("ttl", "x", ex=1000)               # relative: logged as SET .. PXAT
        r.setex("setex", 2000, "y")
        r.set("plain", "z")
        r.expire("plain", 3000)                  # EXPIRE: logged as PEXPIREAT
        r.set("gone", "x", px=1)                 # expires; a read then deletes it: DEL
        r.rpush("l", "a", "b", "c", "d")
        r.lpop("l")
        r.hset("h", mapping={"f": "1", "g": "2"})
        r.hincrbyfloat("h", "f", "0.5")
        r.sadd("z", *[f"m{i}" for i in range(20)])
        popped = r.spop("z")                     # random: logged as SREM
        r.incrbyfloat("fl", "1.1")
        r.incrbyfloat("fl", "2.2")               # 3.3: logged as SET .. KEEPTTL
        pipe = r.pipeline(transaction=True)      # MULTI ... EXEC
        pipe.incr("counter").incr("counter").set("in_multi", "yes")
        pipe.execute()
        time.sleep(0.01)
        self.assertIsNone(r.get("gone"))
        return popped

    def test_sigkill_then_restart_finds_every_key_and_expiry(self):
        server, r = self.start()
        popped = self.fill(r)
        before = snapshot(r)
        size = os.path.getsize(self.aof)
        self.assertEqual(r.delete("nosuch"), 0)  # a no-op writes nothing
        self.assertEqual(r.sadd("z", "m0" if popped != b"m0" else "m1"), 0)
        self.assertEqual(os.path.getsize(self.aof), size)
        self.kill(server)

        time.sleep(0.05)  # an expiry logged as relative time would now land later
        again, r2 = self.start()
        after = snapshot(r2)
        self.assertEqual(after, before)
        self.assertEqual(r2.get("fl"), b"3.3")
        self.assertEqual(r2.get("counter"), b"2")
        self.assertNotIn(popped, r2.smembers("z"))
        self.assertEqual(r2.scard("z"), 19)
        self.assertGreater(before[b"ttl"][2], 0)
        self.assertEqual(again.stop(), 0)

    def test_the_logged_forms(self):
        server, r = self.start()
        popped = self.fill(r).decode()
        blocked = kvtest.Conn(server.port)
        blocked.send("BLPOP", "nothing", "queue", "5")  # blocks; served by the push below
        self.assertTrue(wait_until(lambda: r.info("clients")["blocked_clients"] == 1))
        r.rpush("queue", "job")
        self.assertEqual(blocked.read(), [b"queue", b"job"])
        blocked.close()
        r.set("short", "x", px=20)
        self.assertTrue(wait_until(lambda: r.dbsize() == 10, deadline=5))  # active expiry
        self.kill(server)

        commands = read_commands(self.aof)
        upper = [[c[0].upper(), *c[1:]] for c in commands]
        names = [c[0] for c in upper]
        self.assertNotIn("EXPIRE", names)
        self.assertNotIn("SETEX", names)
        self.assertNotIn("SPOP", names)
        self.assertNotIn("BLPOP", names)
        self.assertNotIn("INCRBYFLOAT", names)
        self.assertNotIn("HINCRBYFLOAT", names)
        ttl = next(c for c in upper if c[:2] == ["SET", "ttl"])
        self.assertEqual(ttl[3], "PXAT")
        self.assertGreater(int(ttl[4]), time.time() * 1000 + 900_000)  # absolute
        self.assertEqual(next(c for c in upper if c[1:2] == ["setex"])[3], "PXAT")
        self.assertIn("PEXPIREAT", [c[0] for c in upper if c[1:2] == ["plain"]])
        self.assertIn(["SREM", "z", popped], upper)
        self.assertIn(["SET", "fl", "3.3", "KEEPTTL"], upper)
        self.assertIn(["HSET", "h", "f", "1.5"], upper)
        self.assertIn(["LPOP", "queue"], upper)
        self.assertIn(["DEL", "gone"], upper)    # lazy expiry
        self.assertIn(["DEL", "short"], upper)   # active expiry
        self.assertNotIn("nosuch", [w for c in upper for w in c])
        multi = names.index("MULTI")
        self.assertEqual(names[multi:multi + 5], ["MULTI", "INCRBY", "INCRBY", "SET", "EXEC"])
        if shutil.which("redis-check-aof"):
            check = subprocess.run(["redis-check-aof", self.aof], capture_output=True,
                                   text=True, timeout=30)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            self.assertIn("is valid", check.stdout)

    def test_each_fsync_policy_keeps_acknowledged_writes_over_sigkill(self):
        # The write(2) happens before the reply under every policy; only a power cut
        # tells them apart (not tested here).
        for policy in ("always", "everysec", "no"):
            with self.subTest(policy=policy):
                server, r = self.start(fsync=policy)
                r.set(f"key-{policy}", policy)
                self.assertEqual(r.config_get("appendfsync")["appendfsync"], policy)
                self.kill(server)
                _, r2 = self.start(fsync=policy)
                for done in ("always", "everysec", "no")[:("always", "everysec", "no").index(policy) + 1]:
                    self.assertEqual(r2.get(f"key-{done}"), done.encode())
                self.assertEqual(r2.config_get("appendonly")["appendonly"], "yes")

    def test_redis_server_loads_the_file(self):
        server, r = self.start()
        self.fill(r)
        before = snapshot(r)
        self.kill(server)
        copy = tempfile.mkdtemp(prefix="kv_aof_redis_")
        self.addCleanup(shutil.rmtree, copy, True)
        shutil.copy(self.aof, copy)
        # Redis 7 takes an old-style single file as the base of its multi-part AOF.
        with kvtest.start_redis("--dir", copy, "--appendonly", "yes",
                                "--appendfilename", "appendonly.aof") as real:
            rr = redis.Redis(host="127.0.0.1", port=real.port, socket_timeout=10)
            self.assertTrue(wait_until(lambda: rr.info("persistence")["loading"] == 0))
            self.assertEqual(snapshot(rr), before)
            rr.close()


class Damage(AofCase):
    def write_some(self):
        server, r = self.start()
        for i in range(50):
            r.set(f"k{i}", "v" * i)
        r.rpush("last", "x")
        self.kill(server)
        with open(self.aof, "rb") as f:
            return f.read()

    def test_a_command_cut_short_is_dropped_and_the_server_starts(self):
        data = self.write_some()
        last = kvtest.encode(["RPUSH", "last", "x"])
        self.assertTrue(data.endswith(last))
        good = len(data) - len(last)
        with open(self.aof, "wb") as f:
            f.write(data[:good + 9])  # a crash in the middle of the last command
        server, r = self.start()
        self.assertEqual(r.get("k49"), b"v" * 49)
        self.assertEqual(r.exists("last"), 0)
        self.assertEqual(os.path.getsize(self.aof), good)  # cut back to a whole command
        r.set("after", "1")  # appended after the cut: the file stays well formed
        stderr = self.kill(server)
        self.assertIn(f"cutting the file at byte {good} of {good + 9}", stderr)
        _, r2 = self.start()
        self.assertEqual(r2.get("after"), b"1")
        self.assertEqual(r2.dbsize(), 51)

    def test_an_unfinished_transaction_is_dropped(self):
        data = self.write_some()
        with open(self.aof, "ab") as f:
            f.write(kvtest.encode(["MULTI"]) + kvtest.encode(["SET", "half", "1"]))
        _, r = self.start()
        self.assertEqual(r.exists("half"), 0)
        self.assertEqual(os.path.getsize(self.aof), len(data))

    def test_corruption_in_the_middle_stops_the_start(self):
        data = bytearray(self.write_some())
        at = data.index(kvtest.encode(["SET", "k20", "v" * 20]))
        data[at] = ord("?")
        with open(self.aof, "wb") as f:
            f.write(data)
        r = self.start_fails()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"{self.aof}: corrupt at byte {at} of {len(data)}", r.stderr)
        self.assertIn("expected '*', got '?'", r.stderr)
        with open(self.aof, "rb") as f:
            self.assertEqual(f.read(), bytes(data))  # left as it was, for the operator

    def test_an_unknown_command_stops_the_start(self):
        self.write_some()
        with open(self.aof, "ab") as f:
            f.write(kvtest.encode(["GET", "k1"]) + kvtest.encode(["SET", "a", "b"]))
        r = self.start_fails()
        self.assertEqual(r.returncode, 1)
        self.assertIn("'GET' is not a command an append-only file holds", r.stderr)


class Rewrite(AofCase):
    def test_bgrewriteaof_shrinks_the_file_and_keeps_writes_made_meanwhile(self):
        server, r = self.start("--appendfsync", "everysec")
        pipe = r.pipeline(transaction=False)
        for _ in range(3000):
            pipe.incr("counter")
        pipe.rpush("l", *range(200)).set("ttl", "x", ex=500).sadd("z", "a", "b")
        pipe.execute()
        big = os.path.getsize(self.aof)
        writer = kvtest.Conn(server.port)
        writer.send_raw(kvtest.encode(["INCR", "during"]) * 2000)  # while the child writes
        self.assertEqual(r.bgrewriteaof(), True)
        r.set("right-after-the-fork", "1")  # most likely while the child still writes
        self.assertEqual([writer.read() for _ in range(2000)][-1], 2000)
        writer.close()
        self.assertTrue(wait_until(
            lambda: r.info("persistence")["aof_rewrite_in_progress"] == 0))
        self.assertEqual(r.info("persistence")["aof_last_bgrewrite_status"], "ok")
        r.incr("after")
        before = snapshot(r)
        self.kill(server)
        self.assertLess(os.path.getsize(self.aof), big)
        # The keyspace as it was at the fork, then what came after: 3,000 INCRs are one SET.
        commands = read_commands(self.aof)
        self.assertEqual([c for c in commands if c[1:2] == ["counter"]], [["SET", "counter", "3000"]])
        self.assertEqual([n for n in os.listdir(self.dir) if n != "appendonly.aof"], [])
        _, r2 = self.start()
        self.assertEqual(snapshot(r2), before)
        self.assertEqual(r2.get("during"), b"2000")

    def test_bgrewriteaof_needs_the_file_on(self):
        server = kvtest.start_kv(BIN)
        self.addCleanup(server.stderr_text)
        self.addCleanup(server.stop)
        c = kvtest.Conn(server.port)
        self.assertEqual(c.call("BGREWRITEAOF"),
                         "ERR the append-only file is off: start kv-server with --appendonly yes")
        self.assertEqual(c.call("CONFIG", "GET", "appendonly"), [b"appendonly", b"no"])
        c.close()


class Start(AofCase):
    def test_a_first_start_with_the_file_on_begins_from_the_dump(self):
        server = kvtest.start_kv(BIN, "--dir", self.dir, "--dbfilename", "dump.rdb")
        c = kvtest.Conn(server.port)
        c.call("SET", "from-dump", "1")
        c.call("RPUSH", "l", "a", "b")
        c.close()
        self.assertEqual(server.stop(), 0)  # saves the dump at exit
        server.stderr_text()
        server, r = self.start("--dbfilename", "dump.rdb")
        self.assertEqual(r.get("from-dump"), b"1")
        r.set("logged", "2")
        self.kill(server)
        os.unlink(os.path.join(self.dir, "dump.rdb"))
        _, r2 = self.start()  # the file alone has it all
        self.assertEqual(r2.get("from-dump"), b"1")
        self.assertEqual(r2.lrange("l", 0, -1), [b"a", b"b"])
        self.assertEqual(r2.get("logged"), b"2")

    def test_the_file_takes_precedence_over_the_dump(self):
        server, r = self.start("--dbfilename", "dump.rdb")
        r.set("k", "from-aof")
        self.assertTrue(r.save())
        r.set("k", "newer")
        self.kill(server)
        _, r2 = self.start("--dbfilename", "dump.rdb")
        self.assertEqual(r2.get("k"), b"newer")

    def test_the_threads_model_refuses_the_file(self):
        r = subprocess.run([BIN, "--port", "0", "--model", "threads", "--appendonly", "yes"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--model threads: no --appendonly", r.stderr)

    def test_bad_flags(self):
        for flags in (["--appendfsync", "sometimes"], ["--appendonly", "maybe"],
                      ["--appendfilename", "../elsewhere.aof"]):
            r = subprocess.run([BIN, "--port", "0", *flags], capture_output=True, text=True,
                               timeout=10)
            self.assertEqual(r.returncode, 2, flags)


if __name__ == "__main__":
    if not BIN or not os.path.exists(BIN):
        sys.exit("set KV_SERVER_BIN to the kv-server binary")
    if kvtest.MODEL != "epoll":
        print("the append-only file is --model epoll only: skipped")
        sys.exit(77)
    unittest.main(verbosity=2)
