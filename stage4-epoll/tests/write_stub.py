#!/usr/bin/env python3
"""write_stub.py SOURCE REGION OUT: writes SOURCE with one lab region replaced by its
stub, exactly as tools/handout.py writes it into the student's starter tree (the same
scan() and rewrite()), so a test can build and run the stub from the reference tree.

    write_stub.py stage4-epoll/event_loop.cpp lab11:event-loop-dispatch build/.../event_loop.cpp

Exits 1, naming the problem, when SOURCE has no such region or its markers are broken.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(ROOT / "tools"))
import handout  # noqa: E402  (tools/handout.py)


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: write_stub.py SOURCE REGION OUT", file=sys.stderr)
        return 2
    source, key, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    text = source.read_text(encoding="utf-8")
    try:
        regions = handout.scan(str(source), text)
    except handout.MarkerError as e:
        print(f"write_stub: {e}", file=sys.stderr)
        return 1
    if not any(r.key == key for r in regions):
        print(f"write_stub: {source} has no region [{key}]", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(handout.rewrite(text, regions, {key}, ROOT), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
