"""A pymesos framework for the network partition scenarios.

It launches one long command task per --task NAME (on the first offer big
enough), optionally with the PARTITION_AWARE capability (--partition-aware),
reports every update as a JSON line on stdout ({"event": "update",
"task_id", "state", "reason", ...}) and acknowledges them (pymesos' implicit
acknowledgements). Each time the file given by --reconcile-file appears it
runs explicit reconciliation for its tasks and removes the file. It runs
until --stop-file exists or --timeout passes. It never decides what passed:
the test reads its records.
"""
import argparse
import os
import threading

from pymesos import MesosSchedulerDriver, Scheduler

from compat_client import report, run_until_stopped, scalar


class Framework(Scheduler):
    def __init__(self, tasks):
        self.tasks = tasks
        self.launched = False
        self.agent_id = None
        self.lock = threading.Lock()

    def registered(self, driver, framework_id, master_info):
        report(event="registered", framework_id=framework_id["value"])

    def reregistered(self, driver, master_info):
        report(event="reregistered")

    def resourceOffers(self, driver, offers):
        for offer in offers:
            with self.lock:
                need = 0.2 * len(self.tasks)
                if self.launched or scalar(offer, "cpus") < need:
                    driver.declineOffer(offer["id"], {"refuse_seconds": 1})
                    continue
                self.launched = True
                self.agent_id = offer["agent_id"]["value"]
            infos = []
            for name in self.tasks:
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
                    "command": {"value": "sleep 1000"},
                })
            report(event="launch", tasks=self.tasks)
            driver.launchTasks(offer["id"], infos)

    def statusUpdate(self, driver, update):
        report(event="update", task_id=update["task_id"]["value"],
               state=update["state"], uuid=update.get("uuid"),
               source=update.get("source"), reason=update.get("reason"),
               message=update.get("message"),
               agent_id=(update.get("agent_id") or {}).get("value"))

    def slaveLost(self, driver, agent_id):
        report(event="agent_lost", agent_id=agent_id.get("value"))

    def error(self, driver, message):
        report(event="error", message=message)

    def reconcile(self, driver):
        with self.lock:
            agent_id = self.agent_id
        statuses = []
        for name in self.tasks:
            status = {"task_id": {"value": name}}
            if agent_id:
                status["agent_id"] = {"value": agent_id}
            statuses.append(status)
        report(event="reconcile", tasks=self.tasks)
        # pymesos' reconcileTasks drops the agent id, which decides the
        # answer for a task on an unreachable agent, so send the call here.
        if driver.connected:
            driver._send({
                "type": "RECONCILE",
                "framework_id": {"value": driver.framework_id},
                "reconcile": {"tasks": statuses},
            })


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--master", required=True)
    p.add_argument("--name", default="pymesos partition")
    p.add_argument("--task", action="append", default=[])
    p.add_argument("--partition-aware", action="store_true")
    p.add_argument("--reconcile-file", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--timeout", type=float, default=180)
    args = p.parse_args()

    framework = {
        "user": os.environ.get("USER", "root"),
        "name": args.name,
        "hostname": "127.0.0.1",
        "checkpoint": True,
        "failover_timeout": 300.0,
    }
    if args.partition_aware:
        framework["capabilities"] = [{"type": "PARTITION_AWARE"}]
    sched = Framework(args.task)
    driver = MesosSchedulerDriver(sched, framework, args.master,
                                  use_addict=False)

    def reconcile_when_asked():
        if os.path.exists(args.reconcile_file):
            os.remove(args.reconcile_file)
            sched.reconcile(driver)

    run_until_stopped(driver, args.stop_file, args.timeout,
                      reconcile_when_asked)


if __name__ == "__main__":
    main()
