"""A pymesos (v1 HTTP, JSON) framework the compat tests drive.

It reports what it sees as JSON lines on stdout ({"event": ...}) and exits 0
when its scenario is complete, non-zero on error or timeout. Scenarios:

  command          launch `echo hello` as a command task
  custom-executor  launch a task through a pymesos custom executor
  kill             launch `sleep 1000`, kill it once RUNNING
  hold             launch `sleep 1000` and keep it (until killed or --timeout)
  executor-exits   custom executor that exits without a terminal update
  disconnect       launch `sleep 1000`, then vanish (no teardown) once RUNNING
  resubscribe      subscribe again with --framework-id and reconcile
  fetch            `cat` a file the fetcher put in the sandbox from --uri
  fetch-fail       the same with a --uri that cannot be fetched
"""
import argparse
import os
import sys
import threading
import uuid

from pymesos import MesosSchedulerDriver, Scheduler

from compat_client import report, scalar

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST",
            "TASK_ERROR", "TASK_DROPPED", "TASK_GONE"}


class Framework(Scheduler):
    def __init__(self, args):
        self.args = args
        self.launched = False
        self.task_id = "task-" + uuid.uuid4().hex[:8]
        self.done = threading.Event()
        self.ok = False

    def registered(self, driver, framework_id, master_info):
        report(event="registered", framework_id=framework_id["value"],
               master_version=master_info.get("version"))
        if self.args.scenario == "resubscribe":
            driver.reconcileTasks([])

    def reregistered(self, driver, master_info):
        report(event="registered", framework_id=driver.framework_id,
               reregistered=True)
        if self.args.scenario == "resubscribe":
            driver.reconcileTasks([])

    def task(self, offer):
        task = {
            "name": "compat " + self.args.scenario,
            "task_id": {"value": self.task_id},
            "agent_id": {"value": offer["agent_id"]["value"]},
            "resources": [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
            ],
        }
        sc = self.args.scenario
        if sc in ("custom-executor", "executor-exits"):
            script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  "pymesos_executor.py")
            mode = "exit-early" if sc == "executor-exits" else "hello"
            task["executor"] = {
                "executor_id": {"value": "exec-" + self.task_id},
                "name": "pymesos compat executor",
                "command": {"value": "%s %s %s" % (sys.executable, script, mode)},
                "resources": [
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}},
                ],
            }
        elif sc in ("fetch", "fetch-fail"):
            # The fetcher puts the URI in the sandbox before the task runs;
            # a URI that cannot be fetched fails the task.
            task["command"] = {
                "value": "cat fetched.txt",
                "uris": [{"value": self.args.uri, "extract": False,
                          "output_file": "fetched.txt"}],
            }
        else:
            cmd = "echo hello" if sc == "command" else "sleep 1000"
            task["command"] = {"value": cmd}
        return task

    def resourceOffers(self, driver, offers):
        for offer in offers:
            report(event="offer", offer_id=offer["id"]["value"],
                   agent_id=offer["agent_id"]["value"],
                   hostname=offer.get("hostname"),
                   cpus=scalar(offer, "cpus"), mem=scalar(offer, "mem"),
                   has_url="url" in offer,
                   has_allocation_info="allocation_info" in offer,
                   resource_allocation_info=any(
                       "allocation_info" in r for r in offer.get("resources", [])),
                   resource_roles=sorted(set(
                       r.get("role", "") for r in offer.get("resources", []))))
            if self.launched or self.args.scenario == "resubscribe" \
                    or scalar(offer, "cpus") < 0.3 or scalar(offer, "mem") < 128:
                driver.declineOffer(offer["id"], {"refuse_seconds": 1})
                continue
            self.launched = True
            report(event="launch", task_id=self.task_id)
            driver.launchTasks(offer["id"], [self.task(offer)])

    def statusUpdate(self, driver, update):
        state = update["state"]
        report(event="update", task_id=update["task_id"]["value"], state=state,
               source=update.get("source"), reason=update.get("reason"),
               message=update.get("message"),
               agent_id=(update.get("agent_id") or {}).get("value"),
               executor_id=(update.get("executor_id") or {}).get("value"),
               has_uuid="uuid" in update)
        sc = self.args.scenario
        if state == "TASK_RUNNING" and sc == "kill":
            driver.killTask(update["task_id"])
        if state == "TASK_RUNNING" and sc == "disconnect":
            report(event="vanishing", task_id=update["task_id"]["value"])
            os._exit(0)
        if sc == "resubscribe" and update.get("reason") == "REASON_RECONCILIATION":
            self.ok = True
            self.done.set()
        if state in TERMINAL and sc != "resubscribe":
            self.ok = True
            self.done.set()

    def error(self, driver, message):
        report(event="error", message=message)
        self.done.set()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--master", required=True)
    p.add_argument("--scenario", required=True)
    p.add_argument("--failover-timeout", type=float, default=0.0)
    p.add_argument("--framework-id")
    p.add_argument("--uri", help="a URI for the fetch scenarios")
    p.add_argument("--capabilities", default="",
                   help="comma-separated FrameworkInfo capability types")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--leave", action="store_true",
                   help="leave without tearing the framework down")
    p.add_argument("--principal", help="HTTP Basic principal (with --secret)")
    p.add_argument("--secret")
    p.add_argument("--framework-principal",
                   help="FrameworkInfo.principal (default: --principal)")
    args = p.parse_args()

    framework = {
        "user": os.environ.get("USER", "root"),
        "name": "pymesos compat " + args.scenario,
        "hostname": "127.0.0.1",
        "failover_timeout": args.failover_timeout,
    }
    if args.framework_id:
        framework["id"] = {"value": args.framework_id}
    caps = [c for c in args.capabilities.split(",") if c]
    if caps:
        framework["capabilities"] = [{"type": c} for c in caps]
        if "MULTI_ROLE" in caps:
            framework["roles"] = ["*"]
    if args.framework_principal or args.principal:
        framework["principal"] = args.framework_principal or args.principal
    sched = Framework(args)
    driver = MesosSchedulerDriver(sched, framework, args.master,
                                  use_addict=False,
                                  principal=args.principal, secret=args.secret)
    driver.start()
    finished = sched.done.wait(args.timeout)
    if args.scenario == "resubscribe" or args.leave:
        # Leave without tearing the framework down.
        driver.stop(failover=True)
    else:
        driver.stop()
    driver.join()
    report(event="exit", ok=bool(finished and sched.ok))
    sys.exit(0 if finished and sched.ok else 1)


if __name__ == "__main__":
    main()
