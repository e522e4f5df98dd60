"""The checks of textmill's Python tests: an "ok N - what" or "not ok N - what"
line each (the detail, indented, under a failing one), a summary at the end,
and exit status 1 when one failed.

    sys.path.insert(0, <tests/>); from tap import Tap
    tap = Tap(); check = tap.check
    check("the output parses", ok, detail)
    tap.finish()
"""
import sys


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = []

    def check(self, what, ok, detail=""):
        self.n += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {what}")
        if not ok:
            self.failed.append(what)
            for line in str(detail).splitlines()[:30]:
                print(f"#   {line}")
        return ok

    def finish(self, note=""):
        """Prints the plan and the failures; exits 1 if there were any."""
        print(f"1..{self.n}")
        if self.failed:
            print(f"# {len(self.failed)} of {self.n} failed{note}:")
            for what in self.failed:
                print(f"#   {what}")
            sys.exit(1)
