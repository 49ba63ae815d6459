"""What the pymesos compat clients share.

Each client reports what it sees as one JSON object per line on stdout and
never decides what passed: the Rust test reads the records. This module
holds the record writer, an offer's scalar totals, and the loop that keeps
a driver running until the test creates the stop file (or a timeout).
"""
import json
import os
import sys
import time


def report(**kw):
    """Writes one record and flushes, so the test sees it at once."""
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def scalar(offer, name):
    """The total of the scalar resource `name` in `offer`."""
    return sum(r["scalar"]["value"] for r in offer.get("resources", [])
               if r["name"] == name and "scalar" in r)


def run_until_stopped(driver, stop_file, timeout, each_poll=None):
    """Starts `driver`, runs until `stop_file` exists or `timeout` seconds
    pass (calling `each_poll` every 50 ms meanwhile), then stops and joins
    it and reports {"event": "exit"}."""
    driver.start()
    deadline = time.time() + timeout
    while time.time() < deadline and not os.path.exists(stop_file):
        if each_poll is not None:
            each_poll()
        time.sleep(0.05)
    driver.stop()
    driver.join()
    report(event="exit")
