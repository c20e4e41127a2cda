#!/usr/bin/python3
"""threads_test.py: what only `kv-server --model threads` has to show.

    KV_SERVER_BIN=/path/to/kv-server threads_test.py [unittest args]

The black-box suites (clients_test.py, differential_test.py) run against this
model too (KV_MODEL=threads). Here: many clients at once on shared and disjoint
keys, with exact final counts (lost updates would show); MULTI/EXEC seen whole
or not at all across shards, WATCH against other workers; blocked clients that
hang up, many waiters on one push, SIGTERM while blocked; CLIENT LIST showing
the other workers' clients (blocked, subscribed), RESETSTAT; CONFIG SET by one
client seen by the clients of every other worker (maxmemory, requirepass,
maxclients, timeout), allkeys-lru refused; maxclients, the idle timeout and a
clean SIGTERM with clients connected. Every loop is bounded; nothing is timed.
"""
import os
import subprocess
import sys
import threading
import time
import unittest

import kvtest

BIN = os.environ.get("KV_SERVER_BIN", "")

CLIENTS = 8
ROUNDS = 40      # pipelines per client
PIPELINE = 50    # commands per pipeline
SHARED = ["counter:a", "counter:b"]


def pipeline(conn, commands):
    """Sends every command in one write, then reads one reply per command."""
    conn.send_raw(b"".join(kvtest.encode(words) for words in commands))
    return [conn.read() for _ in commands]


def start(*flags):
    return kvtest.start_kv(BIN, "--model", "threads", *flags)


class Concurrency(unittest.TestCase):
    def setUp(self):
        self.server = start("--threads", "16", "--shards", "8")
        self.addCleanup(self.stop_cleanly)

    def stop_cleanly(self):
        status = self.server.stop()  # a TSan report at exit shows as a non-zero status
        stderr = self.server.stderr_text()
        self.assertEqual(status, 0, stderr[-3000:])

    def client_work(self, index, failures):
        """INCR the shared counters, push to a shared list, SET then GET own keys."""
        try:
            c = kvtest.Conn(self.server.port)
            for r in range(ROUNDS):
                words = []
                for i in range(PIPELINE):
                    key = SHARED[(index + i) % len(SHARED)]
                    words.append(["INCR", key])
                    words.append(["SET", f"own:{index}:{r}:{i}", f"v{index}.{r}.{i}"])
                words.append(["RPUSH", "shared:list", f"{index}.{r}"])
                words.append(["SADD", "shared:set", f"{index}.{r}"])
                # A multi-key command over several shards, and a rename across shards.
                words.append(["MSET", f"m:{index}:x", str(r), f"m:{index}:y", str(r)])
                words.append(["RENAME", f"own:{index}:{r}:0", f"renamed:{index}:{r}"])
                words.append(["MGET", f"own:{index}:{r}:1", f"renamed:{index}:{r}"])
                replies = pipeline(c, words)
                got = replies[-1]
                want = [f"v{index}.{r}.1".encode(), f"v{index}.{r}.0".encode()]
                if got != want:
                    failures.append(f"client {index} round {r}: MGET {got!r} != {want!r}")
                    break
            c.close()
        except Exception as e:  # reported by the main thread
            failures.append(f"client {index}: {e!r}")

    def test_shared_counters_and_disjoint_keys_are_exact(self):
        failures = []
        threads = [threading.Thread(target=self.client_work, args=(i, failures))
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive(), "a client hung")
        self.assertEqual(failures, [])
        c = kvtest.Conn(self.server.port)
        total = sum(int(c.call("GET", k)) for k in SHARED)
        self.assertEqual(total, CLIENTS * ROUNDS * PIPELINE)  # no INCR lost
        self.assertEqual(c.call("LLEN", "shared:list"), CLIENTS * ROUNDS)
        self.assertEqual(c.call("SCARD", "shared:set"), CLIENTS * ROUNDS)
        for index in range(CLIENTS):
            for r in (0, ROUNDS - 1):
                self.assertEqual(c.call("GET", f"own:{index}:{r}:7"), f"v{index}.{r}.7".encode())
                self.assertIsNone(c.call("GET", f"own:{index}:{r}:0"))
        # Every key written is there once: own (minus the renamed), renamed, m:*, counters, list, set.
        keys = CLIENTS * ROUNDS * (PIPELINE - 1) + CLIENTS * ROUNDS + CLIENTS * 2 + len(SHARED) + 2
        self.assertEqual(c.call("DBSIZE"), keys)
        self.assertEqual(len(c.call("KEYS", "renamed:*")), CLIENTS * ROUNDS)
        c.close()

    def test_expired_keys_are_hidden_then_reclaimed(self):
        c = kvtest.Conn(self.server.port)
        for i in range(200):
            c.call("SET", f"short:{i}", "x", "PX", "30")
        c.call("SET", "long", "y")
        time.sleep(0.1)
        self.assertIsNone(c.call("GET", "short:5"))  # a reader hides it at once
        # The active cycle (one shard per tick) deletes the rest nobody reads.
        self.assertTrue(kvtest_wait(lambda: c.call("DBSIZE") == 1, 15))
        c.close()


class Transactions(unittest.TestCase):
    """EXEC is atomic against the other workers; WATCH sees their writes."""

    def setUp(self):
        self.server = start("--threads", "16", "--shards", "8")
        self.addCleanup(self.stop_cleanly)

    stop_cleanly = Concurrency.stop_cleanly

    def run_clients(self, target, count):
        failures = []
        threads = [threading.Thread(target=target, args=(i, failures)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive(), "a client hung")
        self.assertEqual(failures, [])

    def test_exec_is_seen_whole_or_not_at_all(self):
        # Writers move one unit from tx:a to tx:b (different shards) inside MULTI;
        # readers must always see the sum unchanged. Locking each queued command
        # alone would let a reader in between the two writes.
        c = kvtest.Conn(self.server.port)
        c.call("MSET", "tx:a", "100000", "tx:b", "0")
        c.close()

        def work(index, failures):
            try:
                conn = kvtest.Conn(self.server.port)
                for _ in range(300):
                    if index % 2 == 0:
                        replies = pipeline(conn, [["MULTI"], ["DECR", "tx:a"], ["INCR", "tx:b"],
                                                  ["EXEC"]])
                        if replies[0] != b"OK" or not isinstance(replies[3], list):
                            failures.append(f"EXEC: {replies!r}")
                            break
                    else:
                        a, b = conn.call("MGET", "tx:a", "tx:b")
                        if int(a) + int(b) != 100000:
                            failures.append(f"saw a half-done EXEC: {a!r} + {b!r}")
                            break
                conn.close()
            except Exception as e:  # reported by the main thread
                failures.append(f"client {index}: {e!r}")

        self.run_clients(work, 6)
        c = kvtest.Conn(self.server.port)
        self.assertEqual(c.call("GET", "tx:b"), b"900")  # 3 writers x 300
        c.close()

    def test_watch_makes_check_and_set_exact(self):
        # Optimistic increments: WATCH, GET, MULTI, SET, EXEC, retried on a null
        # EXEC. With WATCH blind to other workers' writes, increments would be lost.
        def work(index, failures):
            try:
                conn = kvtest.Conn(self.server.port)
                done = 0
                for _ in range(5000):  # bounded: retries included
                    if done == 50:
                        break
                    conn.call("WATCH", "cas")
                    value = int(conn.call("GET", "cas") or 0)
                    replies = pipeline(conn, [["MULTI"], ["SET", "cas", str(value + 1)], ["EXEC"]])
                    if replies[2] is not None:
                        done += 1
                if done != 50:
                    failures.append(f"client {index}: {done} increments in 5000 tries")
                conn.close()
            except Exception as e:  # reported by the main thread
                failures.append(f"client {index}: {e!r}")

        self.run_clients(work, 4)
        c = kvtest.Conn(self.server.port)
        self.assertEqual(c.call("GET", "cas"), b"200")
        c.close()


class Blocking(unittest.TestCase):
    """A blocked client holds a worker: it must give it back when it leaves."""

    def blocked(self, conn, n):
        return kvtest_wait(lambda: b"blocked_clients:%d" % n in conn.call("INFO", "clients"), 10)

    def test_a_client_that_hangs_up_while_blocked_frees_its_worker(self):
        with start("--threads", "2") as server:
            watcher = kvtest.Conn(server.port)
            gone = kvtest.Conn(server.port)
            gone.send("BLPOP", "never", "0")
            self.assertTrue(self.blocked(watcher, 1))
            gone.close()
            self.assertTrue(self.blocked(watcher, 0))
            # Its worker is free again: a third client (2 workers) is served.
            third = kvtest.Conn(server.port)
            self.assertEqual(third.call("PING"), b"PONG")
            self.assertEqual(watcher.call("RPUSH", "never", "x"), 1)  # nobody took it
            for c in (watcher, third):
                c.close()
            self.assertEqual(server.stop(), 0)

    def test_many_waiters_each_get_one_element(self):
        with start("--threads", "12") as server:
            waiters = [kvtest.Conn(server.port) for _ in range(10)]
            for w in waiters:
                w.send("BLPOP", "jobs", "0")
            pusher = kvtest.Conn(server.port)
            self.assertTrue(self.blocked(pusher, 10))
            pusher.call("RPUSH", "jobs", *[f"j{i}" for i in range(10)])
            got = sorted(w.read()[1] for w in waiters)
            self.assertEqual(got, sorted(f"j{i}".encode() for i in range(10)))
            self.assertEqual(pusher.call("EXISTS", "jobs"), 0)
            for c in waiters + [pusher]:
                c.close()
            self.assertEqual(server.stop(), 0)

    def test_sigterm_with_a_blocked_client_exits_cleanly(self):
        with start("--threads", "2") as server:
            waiter = kvtest.Conn(server.port)
            waiter.send("BRPOP", "never", "0")
            probe = kvtest.Conn(server.port)
            self.assertTrue(self.blocked(probe, 1))
            self.assertEqual(server.stop(), 0)
            self.assertTrue(waiter.closed_by_peer())
            waiter.close()
            probe.close()


class ClientRegistry(unittest.TestCase):
    """CLIENT LIST sees the other workers' clients; CONFIG RESETSTAT zeroes the counters."""

    def test_client_list_shows_every_client_and_its_state(self):
        with start("--threads", "4") as server:
            blocked, subscriber, me = (kvtest.Conn(server.port) for _ in range(3))
            self.assertEqual(blocked.call("CLIENT", "SETNAME", "waiter"), b"OK")
            blocked.send("BLPOP", "nothing", "0")
            self.assertEqual(subscriber.call("SUBSCRIBE", "a", "b")[0], b"subscribe")
            subscriber.read()  # the second confirmation
            def clients():  # one dict of fields per CLIENT LIST line
                text = me.call("CLIENT", "LIST").decode()
                return [dict(f.split("=", 1) for f in line.split(" ")) for line in text.splitlines()]
            self.assertTrue(kvtest_wait(
                lambda: any(c["name"] == "waiter" and c["flags"] == "b" for c in clients()), 10))
            listed = clients()
            self.assertEqual(len(listed), 3, listed)
            self.assertEqual([c["cmd"] for c in listed if c["name"] == "waiter"], ["blpop"])
            subscribed = [c for c in listed if c["flags"] == "P"]
            self.assertEqual([(c["sub"], c["psub"]) for c in subscribed], [("2", "0")], listed)
            mine = dict(f.split("=", 1) for f in me.call("CLIENT", "INFO").decode().split())
            self.assertEqual((mine["flags"], mine["cmd"]), ("N", "client"))
            self.assertEqual(me.call("CLIENT", "LIST").count(b"\n"), 3)
            blocked.close()
            self.assertTrue(kvtest_wait(lambda: me.call("CLIENT", "LIST").count(b"\n") == 2, 10))
            # RESETSTAT: the counters the workers add to start again from 0.
            self.assertNotIn(b"total_commands_processed:0\r\n", me.call("INFO", "stats"))
            self.assertEqual(me.call("CONFIG", "RESETSTAT"), b"OK")
            self.assertIn(b"total_commands_processed:1\r\n", me.call("INFO", "stats"))
            for c in (subscriber, me):
                c.close()
            self.assertEqual(server.stop(), 0)


def kvtest_wait(predicate, deadline):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


WRITERS = 6


class ConfigSet(unittest.TestCase):
    """CONFIG SET by one client reaches the clients every other worker serves."""

    def writer(self, index, port, phase, log, stop, failures):
        """Pipelines of SETs and a CONFIG GET until `stop`; logs (phase, replies) each round.

        The phase is read before the round is sent, so a round logged under phase N
        left after the N-th CONFIG SET was answered."""
        try:
            c = kvtest.Conn(port)
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                now = phase[0]
                words = [["SET", f"w{index}:{i}", "v"] for i in range(10)]
                words.append(["CONFIG", "GET", "maxmemory"])
                log.append((now, pipeline(c, words)))
            c.close()
        except Exception as e:  # noqa: BLE001 - reported by the test
            failures.append(f"writer {index}: {e!r}")

    def rounds_in(self, logs, wanted):
        return min(sum(1 for p, _ in log if p == wanted) for log in logs)

    def test_maxmemory_change_reaches_every_worker(self):
        with start("--threads", "8") as server:
            phase, stop, failures = [0], threading.Event(), []
            logs = [[] for _ in range(WRITERS)]
            threads = [threading.Thread(target=self.writer,
                                        args=(i, server.port, phase, logs[i], stop, failures))
                       for i in range(WRITERS)]
            for t in threads:
                t.start()
            admin = kvtest.Conn(server.port)
            try:
                self.assertTrue(kvtest_wait(lambda: self.rounds_in(logs, 0) >= 2, 10))
                # Phase 1: every write refused. Phase 2: accepted again. Between
                # them (-2), rounds may see either; each writer ends its phase-1
                # round before the second CONFIG SET is sent.
                for number, limit in ((1, "1"), (2, "0")):
                    if number > 1:
                        phase[0] = -number
                        self.assertTrue(kvtest_wait(lambda: self.rounds_in(logs, -number) >= 1, 10))
                    self.assertEqual(admin.call("CONFIG", "SET", "maxmemory", limit), b"OK")
                    phase[0] = number
                    self.assertTrue(kvtest_wait(lambda: self.rounds_in(logs, number) >= 3, 10),
                                    f"phase {number}: a writer made no rounds: {failures}")
            finally:
                stop.set()
                for t in threads:
                    t.join(timeout=35)
            self.assertEqual(failures, [])
            oom = "OOM command not allowed when used memory > 'maxmemory'."
            expected = {1: (oom, [b"maxmemory", b"1"]), 2: (b"OK", [b"maxmemory", b"0"])}
            for index, log in enumerate(logs):
                for p, replies in log:
                    if p <= 0:
                        continue  # before the first change, or between two
                    want_set, want_get = expected[p]
                    self.assertEqual(replies[:-1], [want_set] * 10,
                                     f"writer {index}, phase {p}: a worker kept old options")
                    self.assertEqual(replies[-1], want_get, f"writer {index}, phase {p}")
            self.assertEqual(admin.call("GET", "w0:0"), b"v")  # reads were never refused
            admin.close()
            self.assertEqual(server.stop(), 0)

    def test_requirepass_and_maxclients_apply_to_new_clients(self):
        with start("--threads", "8") as server:
            admin = kvtest.Conn(server.port)
            old = kvtest.Conn(server.port)
            self.assertEqual(old.call("PING"), b"PONG")
            self.assertEqual(admin.call("CONFIG", "SET", "requirepass", "s3cret"), b"OK")
            self.assertEqual(old.call("PING"), b"PONG")  # authenticated already, as in Redis
            for _ in range(5):  # each new client, on whichever worker, must AUTH
                fresh = kvtest.Conn(server.port)
                self.assertTrue(fresh.call("PING").startswith("NOAUTH"))
                self.assertEqual(fresh.call("AUTH", "s3cret"), b"OK")
                self.assertEqual(fresh.call("CONFIG", "GET", "requirepass"),
                                 [b"requirepass", b"s3cret"])
                fresh.close()
            # maxclients is the acceptor's: two connected, so a third is refused.
            self.assertEqual(admin.call("CONFIG", "SET", "maxclients", "2", "requirepass", ""),
                             b"OK")
            extra = kvtest.Conn(server.port)
            self.assertEqual(extra.read(), "ERR max number of clients reached")
            extra.close()
            self.assertEqual(admin.call("CONFIG", "SET", "maxclients", "100"), b"OK")
            fresh = kvtest.Conn(server.port)
            self.assertEqual(fresh.call("PING"), b"PONG")  # no password any more
            for c in (fresh, old, admin):
                c.close()
            self.assertEqual(server.stop(), 0)

    def test_timeout_set_at_run_time_closes_idle_clients(self):
        with start() as server:
            before = kvtest.Conn(server.port)  # connected before the change
            self.assertEqual(before.call("PING"), b"PONG")
            admin = kvtest.Conn(server.port)
            self.assertEqual(admin.call("CONFIG", "SET", "timeout", "1"), b"OK")
            after = kvtest.Conn(server.port)
            self.assertEqual(after.call("PING"), b"PONG")
            self.assertEqual(before.call("PING"), b"PONG")  # its next wait has the timeout
            for c in (admin, after, before):  # the one that set it, too
                self.assertTrue(c.closed_by_peer(wait=5))
                c.close()
            self.assertEqual(server.stop(), 0)


class Refused(unittest.TestCase):
    """What the model refuses answers one clear error, and the client goes on."""

    def test_allkeys_lru_is_refused_by_config_set(self):
        with start() as server:
            c = kvtest.Conn(server.port)
            self.assertEqual(
                c.call("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"),
                "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - "
                "allkeys-lru is not supported with --model threads")
            self.assertEqual(c.call("CONFIG", "GET", "maxmemory-policy"),
                             [b"maxmemory-policy", b"noeviction"])
            self.assertEqual(c.call("PING"), b"PONG")
            c.close()
            self.assertEqual(server.stop(), 0)

    def test_allkeys_lru_is_refused_at_start(self):
        run = subprocess.run([BIN, "--port", "0", "--model", "threads", "--maxmemory-policy",
                              "allkeys-lru"], capture_output=True, text=True, timeout=10)
        self.assertEqual(run.returncode, 2)
        self.assertIn("only --maxmemory-policy noeviction", run.stderr)

    def test_event_loop_features_are_refused_at_start(self):
        # --metrics-port and TLS run on the event loop, which this model never runs.
        for extra in (["--metrics-port", "0"], ["--tls-cert", "/dev/null", "--tls-key", "/dev/null"]):
            run = subprocess.run([BIN, "--port", "0", "--model", "threads"] + extra,
                                 capture_output=True, text=True, timeout=10)
            self.assertEqual(run.returncode, 2, extra)
            self.assertIn("no TLS or --metrics-port", run.stderr)


class Limits(unittest.TestCase):
    def test_maxclients_counts_clients_served_and_waiting(self):
        with start("--maxclients", "3", "--threads", "2") as server:
            conns = [kvtest.Conn(server.port) for _ in range(2)]
            for c in conns:
                self.assertEqual(c.call("PING"), b"PONG")
            waiting = kvtest.Conn(server.port)  # no worker free: it waits in the queue
            extra = kvtest.Conn(server.port)
            self.assertEqual(extra.read(), "ERR max number of clients reached")
            self.assertTrue(extra.closed_by_peer())
            extra.close()
            conns[0].close()  # a worker is free: the waiting client is served
            self.assertEqual(waiting.call("PING"), b"PONG")
            for c in (conns[1], waiting):
                c.close()
            self.assertEqual(server.stop(), 0)

    def test_idle_client_is_closed(self):
        with start("--timeout", "1") as server:
            idle = kvtest.Conn(server.port)
            self.assertEqual(idle.call("PING"), b"PONG")
            self.assertTrue(idle.closed_by_peer(wait=5))
            idle.close()
            self.assertEqual(server.stop(), 0)

    def test_sigterm_with_clients_connected_exits_cleanly(self):
        with start("--threads", "4") as server:
            conns = [kvtest.Conn(server.port) for _ in range(4)]
            for c in conns:
                self.assertEqual(c.call("SET", "k", "v"), b"OK")
            self.assertEqual(server.stop(), 0)  # workers blocked in recv are woken
            for c in conns:
                self.assertTrue(c.closed_by_peer())
                c.close()


if __name__ == "__main__":
    if not BIN:
        print("KV_SERVER_BIN is not set", file=sys.stderr)
        sys.exit(2)
    unittest.main()
