"""A pymesos framework for the agent draining scenarios.

It launches one long command task (--command) on the first offer big
enough, declines every later offer for one second, and reports each offer
({"event": "offer", "agent_id", "time"}) and each update ({"event":
"update", "task_id", "state", "reason", ...}) as a JSON line on stdout,
acknowledging updates implicitly. It runs until the file given by
--stop-file exists or --timeout passes. It never decides what passed: the
test reads its records.
"""
import argparse
import os
import time

from pymesos import MesosSchedulerDriver, Scheduler

import compat_client
from compat_client import scalar, run_until_stopped


def report(**kw):
    compat_client.report(time=time.time(), **kw)


class Framework(Scheduler):
    def __init__(self, command):
        self.command = command
        self.launched = False

    def registered(self, driver, framework_id, master_info):
        report(event="registered", framework_id=framework_id["value"])

    def resourceOffers(self, driver, offers):
        for offer in offers:
            report(event="offer", agent_id=offer["agent_id"]["value"])
            if self.launched or scalar(offer, "cpus") < 0.1:
                driver.declineOffer(offer["id"], {"refuse_seconds": 1})
                continue
            self.launched = True
            task = {
                "name": "drained",
                "task_id": {"value": "drained"},
                "agent_id": {"value": offer["agent_id"]["value"]},
                "resources": [
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                ],
                "command": {"value": self.command},
            }
            report(event="launch", task_id="drained")
            driver.launchTasks(offer["id"], [task])

    def statusUpdate(self, driver, update):
        report(event="update", task_id=update["task_id"]["value"],
               state=update["state"], reason=update.get("reason"),
               source=update.get("source"), message=update.get("message"),
               agent_id=(update.get("agent_id") or {}).get("value"))

    def error(self, driver, message):
        report(event="error", message=message)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--master", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--timeout", type=float, default=120)
    args = p.parse_args()
    framework = {
        "user": os.environ.get("USER", "root"),
        "name": "pymesos agent draining",
        "hostname": "127.0.0.1",
    }
    driver = MesosSchedulerDriver(Framework(args.command), framework,
                                  args.master, use_addict=False)
    run_until_stopped(driver, args.stop_file, args.timeout)


if __name__ == "__main__":
    main()
