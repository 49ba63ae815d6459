"""A pymesos framework that rides out master failovers (compat tests).

Given --master=zk://..., it launches --tasks long-running command tasks
(`sleep 1000`), spread evenly over --agents agents, and reports what it sees
as JSON lines on stdout. It keeps running across leader changes (pymesos
follows the leader in ZooKeeper and re-subscribes with its framework id).
When --control names a file containing "kill", it kills every task and
exits 0 once each has a terminal update; non-zero on error or timeout.
"""
import argparse
import os
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler

from compat_client import report

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST",
            "TASK_ERROR", "TASK_DROPPED", "TASK_GONE"}


class Framework(Scheduler):
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.launched = {}      # task id -> agent id
        self.per_agent = {}     # agent id -> number of tasks
        self.states = {}        # task id -> latest state
        self.failed = threading.Event()

    def registered(self, driver, framework_id, master_info):
        report(event="registered", framework_id=framework_id["value"],
               master=master_info.get("pid"))

    def reregistered(self, driver, master_info):
        report(event="reregistered", framework_id=driver.framework_id,
               master=master_info.get("pid"))

    def resourceOffers(self, driver, offers):
        quota = max(1, self.args.tasks // self.args.agents)
        for offer in offers:
            agent = offer["agent_id"]["value"]
            with self.lock:
                n = self.per_agent.get(agent, 0)
                room = min(quota - n, self.args.tasks - len(self.launched))
                tasks = []
                for _ in range(max(0, room)):
                    tid = "task-%d" % len(self.launched)
                    self.launched[tid] = agent
                    tasks.append({
                        "name": "failover " + tid,
                        "task_id": {"value": tid},
                        "agent_id": {"value": agent},
                        "resources": [
                            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                            {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}},
                        ],
                        "command": {"value": "sleep 1000"},
                    })
                self.per_agent[agent] = n + len(tasks)
            if tasks:
                for t in tasks:
                    report(event="launch", task_id=t["task_id"]["value"], agent_id=agent)
                driver.launchTasks(offer["id"], tasks)
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": 5})

    def statusUpdate(self, driver, update):
        tid = update["task_id"]["value"]
        with self.lock:
            self.states[tid] = update["state"]
        report(event="update", task_id=tid, state=update["state"],
               reason=update.get("reason"),
               agent_id=(update.get("agent_id") or {}).get("value"))

    def error(self, driver, message):
        report(event="error", message=message)
        self.failed.set()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--master", required=True)
    p.add_argument("--tasks", type=int, default=4)
    p.add_argument("--agents", type=int, default=2)
    p.add_argument("--control", required=True)
    p.add_argument("--timeout", type=float, default=300)
    args = p.parse_args()

    framework = {
        "user": os.environ.get("USER", "root"),
        "name": "pymesos failover",
        "hostname": "127.0.0.1",
        # Long enough that a master failover never tears the framework down.
        "failover_timeout": 3600.0,
    }
    sched = Framework(args)
    driver = MesosSchedulerDriver(sched, framework, args.master, use_addict=False)
    driver.start()
    deadline = time.time() + args.timeout
    killing = False
    ok = False
    while time.time() < deadline and not sched.failed.is_set():
        time.sleep(0.2)
        try:
            with open(args.control) as f:
                command = f.read().strip()
        except OSError:
            command = ""
        if command == "kill" and not killing:
            killing = True
            report(event="killing")
            for tid in list(sched.launched):
                driver.killTask({"value": tid})
        if killing:
            with sched.lock:
                done = len(sched.states) == args.tasks and all(
                    s in TERMINAL for s in sched.states.values())
            if done:
                ok = True
                break
    driver.stop()
    driver.join()
    report(event="exit", ok=ok)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
