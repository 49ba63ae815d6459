"""The fault campaign's scheduler: a pymesos framework on zk:// that keeps
launching short command tasks and writes everything it sees to a record.

Every launch and every status update is appended to --record as a JSON line
and flushed to disk *before* the update is acknowledged (pymesos'
implicit acknowledgements run after statusUpdate returns), so a SIGKILL at
any moment loses nothing the agent would not send again. Restarted, it
reads the record back (its tasks, the last task number) and re-subscribes
with the framework id stored in --framework-id-file.

Control files in --control-dir:
  stop-launching  no new tasks from now on
  reconcile       explicit reconciliation of every non-terminal task
                  (the file is removed once the call is sent)
  exit            stop the driver and exit
It never decides what passed: the campaign reads the record.
"""
import argparse
import json
import os
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler

from compat_client import scalar

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST",
            "TASK_ERROR", "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"}


class Record:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.f = open(path, "a")

    def write(self, **kw):
        kw["time"] = time.time()
        with self.lock:
            self.f.write(json.dumps(kw) + "\n")
            self.f.flush()
            os.fsync(self.f.fileno())


class Framework(Scheduler):
    def __init__(self, args, record):
        self.args = args
        self.record = record
        self.lock = threading.Lock()
        self.next_task = 0
        self.active = {}     # task id -> agent id, not yet terminal
        self.stop_launching = False
        self.framework_id_file = args.framework_id_file
        # Rebuild from the record of earlier incarnations.
        try:
            with open(args.record) as f:
                for line in f:
                    try:
                        e = json.loads(line)
                    except ValueError:
                        continue
                    if e.get("event") == "launch":
                        n = int(e["task_id"].split("-")[1])
                        self.next_task = max(self.next_task, n + 1)
                        self.active[e["task_id"]] = e["agent_id"]
                    elif e.get("event") == "update" and e["state"] in TERMINAL:
                        self.active.pop(e["task_id"], None)
        except OSError:
            pass

    def registered(self, driver, framework_id, master_info):
        fid = framework_id["value"]
        tmp = self.framework_id_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(fid)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.framework_id_file)
        self.record.write(event="registered", framework_id=fid,
                          master=master_info.get("pid"))

    def reregistered(self, driver, master_info):
        self.record.write(event="reregistered", master=master_info.get("pid"))

    def disconnected(self, driver):
        self.record.write(event="disconnected")

    def resourceOffers(self, driver, offers):
        for offer in offers:
            agent = offer["agent_id"]["value"]
            tasks = []
            with self.lock:
                room = self.args.concurrency - len(self.active)
                cpus = scalar(offer, "cpus")
                mem = scalar(offer, "mem")
                while (not self.stop_launching and room > 0
                       and cpus >= 0.1 and mem >= 16):
                    tid = "task-%d" % self.next_task
                    self.next_task += 1
                    # Durations spread over a few seconds, so tasks finish
                    # during and between faults.
                    seconds = 2 + (self.next_task * 7) % 9
                    tasks.append({
                        "name": "campaign " + tid,
                        "task_id": {"value": tid},
                        "agent_id": {"value": agent},
                        "resources": [
                            {"name": "cpus", "type": "SCALAR",
                             "scalar": {"value": 0.1}},
                            {"name": "mem", "type": "SCALAR",
                             "scalar": {"value": 16}},
                        ],
                        "command": {"value": "echo $$ > pid; exec sleep %d"
                                    % seconds},
                    })
                    self.active[tid] = agent
                    room -= 1
                    cpus -= 0.1
                    mem -= 16
            if tasks:
                for t in tasks:
                    self.record.write(event="launch",
                                      task_id=t["task_id"]["value"],
                                      agent_id=agent)
                driver.launchTasks(offer["id"], tasks)
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": 1})

    def statusUpdate(self, driver, update):
        tid = update["task_id"]["value"]
        # On disk before pymesos acknowledges it.
        self.record.write(event="update", task_id=tid, state=update["state"],
                          reason=update.get("reason"),
                          source=update.get("source"),
                          uuid=update.get("uuid"),
                          message=update.get("message"),
                          agent_id=(update.get("agent_id") or {}).get("value"))
        if update["state"] in TERMINAL:
            with self.lock:
                self.active.pop(tid, None)

    def error(self, driver, message):
        self.record.write(event="error", message=message)

    def reconcile(self, driver):
        with self.lock:
            statuses = [{"task_id": {"value": t}, "agent_id": {"value": a}}
                        for t, a in self.active.items()]
        if not driver.connected or not driver.framework_id:
            return False
        self.record.write(event="reconcile", tasks=len(statuses))
        # pymesos' reconcileTasks drops the agent ids; send the call here.
        try:
            driver._send({
                "type": "RECONCILE",
                "framework_id": {"value": driver.framework_id},
                "reconcile": {"tasks": statuses},
            })
        except Exception as e:  # not connected at this instant: retry later
            self.record.write(event="reconcile_failed", message=str(e))
            return False
        return True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--master", required=True)
    p.add_argument("--record", required=True)
    p.add_argument("--framework-id-file", required=True)
    p.add_argument("--control-dir", required=True)
    p.add_argument("--concurrency", type=int, default=6)
    args = p.parse_args()

    record = Record(args.record)
    framework = {
        "user": os.environ.get("USER", "root"),
        "name": "fault campaign",
        "hostname": "127.0.0.1",
        "checkpoint": True,
        "failover_timeout": 3600.0,
    }
    try:
        with open(args.framework_id_file) as f:
            framework["id"] = {"value": f.read().strip()}
    except OSError:
        pass
    record.write(event="start", framework_id=framework.get("id"))
    sched = Framework(args, record)
    driver = MesosSchedulerDriver(sched, framework, args.master,
                                  use_addict=False)
    driver.start()
    control = lambda name: os.path.join(args.control_dir, name)
    while not os.path.exists(control("exit")):
        if os.path.exists(control("stop-launching")):
            sched.stop_launching = True
        if os.path.exists(control("reconcile")) and sched.reconcile(driver):
            os.remove(control("reconcile"))
        time.sleep(0.1)
    driver.stop()
    driver.join()
    record.write(event="exit")


if __name__ == "__main__":
    main()
