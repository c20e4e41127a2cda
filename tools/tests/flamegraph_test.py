#!/usr/bin/python3
"""Tests of tools/flamegraph.py: folding `perf script` text and the SVG it draws."""
import subprocess
import sys
import unittest
import xml.dom.minidom
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "flamegraph.py"

# Three samples as `perf script` prints them: a header line, then the stack, leaf first.
PERF_SCRIPT = """\
http-epoll 100 [000] 1.000: 1 cpu-clock:
\t    1111 __send+0x1f (/usr/lib/libc.so.6)
\t    2222 serverlab::Connection::drive+0x42 (/x/http-epoll)
\t    3333 main+0x10 (/x/http-epoll)

http-epoll 100 [000] 1.010: 1 cpu-clock:
\t    1111 __send+0x2a (/usr/lib/libc.so.6)
\t    2222 serverlab::Connection::drive+0x42 (/x/http-epoll)
\t    3333 main+0x10 (/x/http-epoll)

http-epoll 100 [000] 1.020: 1 cpu-clock:
\t    ffff [unknown] (/usr/lib/libc.so.6)
\t    3333 main+0x10 (/x/http-epoll)
"""


def run(*args: str, stdin: str = PERF_SCRIPT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], input=stdin, text=True,
                          capture_output=True, timeout=30)


class Flamegraph(unittest.TestCase):
    def test_folds_equal_stacks_root_first_without_offsets(self):
        r = run("--folded")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "http-epoll;main;[libc.so.6] 1\n"
                                   "http-epoll;main;serverlab::Connection::drive;__send 2\n")

    def test_svg_box_widths_follow_the_samples(self):
        r = run("--title", "t")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = xml.dom.minidom.parseString(r.stdout)
        titles = {t.firstChild.data: t.parentNode for t in doc.getElementsByTagName("title")}
        self.assertIn("main (3 samples, 100.00%)", titles)
        self.assertIn("__send (2 samples, 66.67%)", titles)
        width = lambda name: float(titles[name].getElementsByTagName("rect")[0].getAttribute("width"))
        self.assertAlmostEqual(width("__send (2 samples, 66.67%)") / width("main (3 samples, 100.00%)"),
                               2 / 3, places=2)

    def test_no_samples_is_an_error(self):
        r = run(stdin="")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no samples", r.stderr)


if __name__ == "__main__":
    unittest.main()
