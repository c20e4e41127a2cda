#!/usr/bin/python3
"""differential_test.py: the same command scripts against kv-server and Debian's
redis-server, reply by reply.

    differential_test.py KV_SERVER_BINARY [SCRIPT...]   (default: every scripts/*.txt)

Each script is run on one fresh connection to each server (FLUSHALL first).
A line is a command in shell quoting; a leading '~' compares the reply sorted
(KEYS, SMEMBERS: the order is the hash table's), a leading '#' compares only its
shape (type, and length for arrays: TIME, random picks, HELLO's client id). A
mismatch names the script, the line, the command and both replies. Exit 77 (a
skip) when redis-server is not installed.

With KV_MODEL=threads kv-server runs `--model threads`: every line is sent to
it too.
"""
import pathlib
import shlex
import shutil
import sys

import kvtest

HERE = pathlib.Path(__file__).resolve().parent


def shape(reply):
    if isinstance(reply, list):
        return ("array", len(reply))
    return type(reply).__name__


def sort_all(reply):
    """Sorts a list and every list inside it (the order of a hash table is no contract)."""
    if isinstance(reply, list):
        return sorted((sort_all(r) for r in reply), key=repr)
    return reply


def normalise(reply, mode):
    if mode == "~":
        return sort_all(reply)
    if mode == "#":
        return shape(reply)
    return reply


def run_script(path, kv_port, redis_port):
    """Returns a list of mismatch descriptions (empty: the servers agree)."""
    conns = [kvtest.Conn(kv_port), kvtest.Conn(redis_port)]
    for c in conns:
        c.call("FLUSHALL")
    problems = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or (line.startswith("#") and not line[1:2].isalpha()):
            continue  # blank or a comment ('# text'); '#WORD' is a shape-only command
        mode = line[0] if line[0] in "~#" else ""
        words = shlex.split(line[len(mode):])
        replies = [normalise(c.call(*words), mode) for c in conns]
        if replies[0] != replies[1]:
            problems.append(f"{path.name}:{number}: {line}\n    kv-server:    {replies[0]!r}\n"
                            f"    redis-server: {replies[1]!r}")
    for c in conns:
        c.close()
    return problems


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    if shutil.which("redis-server") is None:
        print("redis-server is not installed: skipped")
        return 77
    scripts = [pathlib.Path(p) for p in sys.argv[2:]] or sorted((HERE / "scripts").glob("*.txt"))
    problems = []
    with kvtest.start_kv(sys.argv[1]) as kv, kvtest.start_redis() as redis:
        for script in scripts:
            problems += run_script(script, kv.port, redis.port)
            print(f"{script.name}: done")
        status = kv.stop()  # a sanitizer's report at exit shows as a non-zero status
        if status != 0:
            problems.append(f"kv-server exited with status {status} on SIGTERM: "
                            f"{kv.stderr_text()[-2000:]}")
    for p in problems:
        print(p)
    print(f"{len(problems)} mismatch(es) over {len(scripts)} script(s) (--model {kvtest.MODEL})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
