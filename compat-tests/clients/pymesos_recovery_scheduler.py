"""A checkpointing pymesos framework for the agent recovery scenarios.

It launches one command task per --task NAME=COMMAND (all on the first
offer big enough), reports every update as a JSON line on stdout
({"event": "update", "task_id", "state", "uuid", ...}), acknowledges them
(pymesos' implicit acknowledgements), and runs until the file given by
--stop-file exists or --timeout passes. It never decides what passed: the
test reads its records.
"""
import argparse
import os

from pymesos import MesosSchedulerDriver, Scheduler

from compat_client import report, scalar, run_until_stopped


class Framework(Scheduler):
    def __init__(self, tasks):
        self.tasks = tasks
        self.launched = False

    def registered(self, driver, framework_id, master_info):
        report(event="registered", framework_id=framework_id["value"])

    def reregistered(self, driver, master_info):
        report(event="reregistered")

    def resourceOffers(self, driver, offers):
        for offer in offers:
            need = 0.2 * len(self.tasks)
            if self.launched or scalar(offer, "cpus") < need:
                driver.declineOffer(offer["id"], {"refuse_seconds": 1})
                continue
            self.launched = True
            infos = []
            for name, command in self.tasks:
                infos.append({
                    "name": name,
                    "task_id": {"value": name},
                    "agent_id": {"value": offer["agent_id"]["value"]},
                    "resources": [
                        {"name": "cpus", "type": "SCALAR",
                         "scalar": {"value": 0.1}},
                        {"name": "mem", "type": "SCALAR",
                         "scalar": {"value": 32}},
                    ],
                    "command": {"value": command},
                })
            report(event="launch", tasks=[n for n, _ in self.tasks])
            driver.launchTasks(offer["id"], infos)

    def statusUpdate(self, driver, update):
        report(event="update", task_id=update["task_id"]["value"],
               state=update["state"], uuid=update.get("uuid"),
               source=update.get("source"), reason=update.get("reason"),
               message=update.get("message"),
               agent_id=(update.get("agent_id") or {}).get("value"))

    def error(self, driver, message):
        report(event="error", message=message)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--master", required=True)
    p.add_argument("--task", action="append", default=[],
                   help="NAME=COMMAND, repeatable")
    p.add_argument("--stop-file", required=True)
    p.add_argument("--timeout", type=float, default=120)
    args = p.parse_args()
    tasks = [tuple(t.split("=", 1)) for t in args.task]

    framework = {
        "user": os.environ.get("USER", "root"),
        "name": "pymesos agent recovery",
        "hostname": "127.0.0.1",
        "checkpoint": True,
        "failover_timeout": 300.0,
    }
    driver = MesosSchedulerDriver(Framework(tasks), framework, args.master,
                                  use_addict=False)
    run_until_stopped(driver, args.stop_file, args.timeout)


if __name__ == "__main__":
    main()
