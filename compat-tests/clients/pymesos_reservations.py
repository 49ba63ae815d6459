"""A pymesos (v1 HTTP, JSON) framework in role `eng` that reserves resources
and creates a persistent volume in one ACCEPT, launching a task on them in
the same call; the task writes into the volume. It then waits for an offer
that carries the reservation and the volume and launches a second task
that reads what the first wrote.

Reports JSON lines on stdout ({"event": ...}); exits 0 when the second task
finished having read the first one's file. With --cleanup it then destroys
the volume and unreserves everything in one ACCEPT and waits for an offer
without them.
"""
import argparse
import os
import sys
import threading
import uuid

from pymesos import MesosSchedulerDriver, Scheduler

from compat_client import report

ROLE = "eng"
PRINCIPAL = "compat-principal"
VOLUME_ID = "vol-" + uuid.uuid4().hex[:6]
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST",
            "TASK_ERROR", "TASK_DROPPED", "TASK_GONE"}


def scalar(name, value, reserved=False):
    r = {"name": name, "type": "SCALAR", "scalar": {"value": value}}
    if reserved:
        # The pre-refinement format, as a framework without the
        # RESERVATION_REFINEMENT capability writes and is offered it.
        r["role"] = ROLE
        r["reservation"] = {"principal": PRINCIPAL}
    return r


def volume(size):
    r = scalar("disk", size, reserved=True)
    r["disk"] = {"persistence": {"id": VOLUME_ID, "principal": PRINCIPAL},
                 "volume": {"container_path": "data", "mode": "RW"}}
    return r


def amount(offer, name, pred):
    return sum(r["scalar"]["value"] for r in offer.get("resources", [])
               if r["name"] == name and "scalar" in r and pred(r))


def reserved(r):
    return bool(r.get("reservations")) or r.get("role", "*") != "*"


def is_volume(r):
    return "persistence" in r.get("disk", {})


class Framework(Scheduler):
    def __init__(self, args):
        self.args = args
        self.phase = "reserve"
        self.done = threading.Event()
        self.ok = False

    def registered(self, driver, framework_id, master_info):
        report(event="registered", framework_id=framework_id["value"])

    def task(self, offer, name, command):
        return {
            "name": name,
            "task_id": {"value": name + "-" + uuid.uuid4().hex[:6]},
            "agent_id": {"value": offer["agent_id"]["value"]},
            "resources": [scalar("cpus", 0.5, True), scalar("mem", 64, True),
                          volume(64)],
            "command": {"value": command},
        }

    def resourceOffers(self, driver, offers):
        for offer in offers:
            vols = [r["disk"]["persistence"]["id"]
                    for r in offer.get("resources", []) if is_volume(r)]
            report(event="offer", phase=self.phase,
                   reserved_cpus=amount(offer, "cpus", reserved),
                   reserved_mem=amount(offer, "mem", reserved),
                   unreserved_cpus=amount(offer, "cpus", lambda r: not reserved(r)),
                   volumes=vols,
                   volume_container_paths=[
                       r["disk"].get("volume", {}).get("container_path")
                       for r in offer.get("resources", []) if is_volume(r)])
            if self.phase == "reserve" and amount(
                    offer, "cpus", lambda r: not reserved(r)) >= 1:
                self.phase = "writing"
                ops = [
                    {"type": "RESERVE", "reserve": {"resources": [
                        scalar("cpus", 1, True), scalar("mem", 128, True),
                        scalar("disk", 64, True)]}},
                    {"type": "CREATE", "create": {"volumes": [volume(64)]}},
                    {"type": "LAUNCH", "launch": {"task_infos": [self.task(
                        offer, "writer",
                        "echo persisted-by-writer > data/hello.txt && "
                        "cat data/hello.txt")]}},
                ]
                report(event="accept", phase="reserve", volume_id=VOLUME_ID)
                driver.acceptOffers([offer["id"]], ops, {"refuse_seconds": 0})
            elif self.phase == "read" and VOLUME_ID in vols \
                    and amount(offer, "cpus", reserved) >= 0.5:
                self.phase = "reading"
                report(event="reserved_offer", volumes=vols)
                driver.launchTasks([offer["id"]], [self.task(
                    offer, "reader",
                    "test -L data && grep -q persisted- data/hello.txt && "
                    "cat data/hello.txt")], {"refuse_seconds": 0})
            elif self.phase == "cleanup" and VOLUME_ID in vols:
                self.phase = "cleaning"
                ops = [
                    {"type": "DESTROY", "destroy": {"volumes": [volume(64)]}},
                    {"type": "UNRESERVE", "unreserve": {"resources": [
                        scalar("cpus", 1, True), scalar("mem", 128, True),
                        scalar("disk", 64, True)]}},
                ]
                report(event="accept", phase="cleanup")
                driver.acceptOffers([offer["id"]], ops, {"refuse_seconds": 0})
            elif self.phase == "cleaning" and not vols \
                    and amount(offer, "cpus", reserved) == 0:
                report(event="cleaned")
                self.ok = True
                self.done.set()
                driver.declineOffer([offer["id"]], {"refuse_seconds": 1})
            else:
                driver.declineOffer([offer["id"]], {"refuse_seconds": 0.2})

    def statusUpdate(self, driver, update):
        state = update["state"]
        tid = update["task_id"]["value"]
        report(event="update", task_id=tid, state=state,
               reason=update.get("reason"), message=update.get("message"))
        if state not in TERMINAL:
            return
        if state != "TASK_FINISHED":
            self.done.set()
            return
        if tid.startswith("writer"):
            self.phase = "read"
            driver.reviveOffers()
        elif tid.startswith("reader"):
            if self.args.cleanup:
                self.phase = "cleanup"
                driver.reviveOffers()
            else:
                self.ok = True
                self.done.set()

    def error(self, driver, message):
        report(event="error", message=message)
        self.done.set()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--master", required=True)
    p.add_argument("--cleanup", action="store_true")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    framework = {
        "user": os.environ.get("USER", "root"),
        "name": "pymesos compat reservations",
        "hostname": "127.0.0.1",
        "role": ROLE,
        "principal": PRINCIPAL,
        "failover_timeout": 0,
    }
    sched = Framework(args)
    driver = MesosSchedulerDriver(sched, framework, args.master,
                                  use_addict=False)
    driver.start()
    finished = sched.done.wait(args.timeout)
    driver.stop()
    driver.join()
    report(event="exit", ok=bool(finished and sched.ok))
    sys.exit(0 if finished and sched.ok else 1)


if __name__ == "__main__":
    main()
