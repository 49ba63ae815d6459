"""pymesos's operator client (pymesos.operator_v1, unmodified) against a
master: calls every GET it has and prints one JSON line per call,
{"call": name, "ok": bool, "result": <decoded response> | "error": text}.
With --subscribe it also subscribes through the driver's event stream and
prints each event it hears as {"event": type, ...} for --listen seconds."""

import argparse
import json
import sys
import time

from pymesos.operator_v1 import MesosOperatorMasterDriver


def report(**fields):
    print(json.dumps(fields), flush=True)


class Recorder(object):
    """The operator callbacks pymesos dispatches SUBSCRIBE events to."""

    def taskAdded(self, task):
        report(event="TASK_ADDED", task_id=task["task_id"]["value"],
               state=task.get("state"))

    def taskUpdated(self, update):
        report(event="TASK_UPDATED", state=update.get("state"),
               framework_id=update["framework_id"]["value"])

    def frameworkAdded(self, framework):
        report(event="FRAMEWORK_ADDED",
               framework_id=framework["framework_info"]["id"]["value"])

    def frameworkUpdated(self, framework):
        report(event="FRAMEWORK_UPDATED",
               framework_id=framework["framework_info"]["id"]["value"])

    def frameworkRemoved(self, info):
        report(event="FRAMEWORK_REMOVED",
               framework_id=info["id"]["value"])

    def agentAdded(self, agent):
        report(event="AGENT_ADDED",
               agent_id=agent["agent_info"]["id"]["value"])

    def agentRemoved(self, agent_id):
        # pymesos hands over the id's value.
        report(event="AGENT_REMOVED", agent_id=agent_id)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--subscribe", action="store_true")
    parser.add_argument("--listen", type=float, default=0.0)
    args = parser.parse_args()

    driver = MesosOperatorMasterDriver(args.master, Recorder())
    calls = [
        ("GET_HEALTH", driver.getHealth),
        ("GET_FLAGS", driver.getFlags),
        ("GET_VERSION", driver.getVersion),
        ("GET_METRICS", lambda: driver.getMetrics(5 * 10 ** 9)),
        ("GET_LOGGING_LEVEL", driver.getLoggingLevel),
        ("SET_LOGGING_LEVEL", lambda: driver.setLoggingLevel(1, 10 ** 9)),
        ("GET_STATE", driver.getState),
        ("GET_AGENTS", driver.getAgents),
        ("GET_FRAMEWORKS", driver.getFrameworks),
        ("GET_EXECUTORS", driver.getExecutors),
        ("GET_TASKS", driver.getTasks),
        ("GET_ROLES", driver.getRoles),
        ("GET_WEIGHTS", driver.getWeights),
        ("GET_MASTER", driver.getMaster),
        ("GET_MAINTENANCE_STATUS", driver.getMaintenanceStatus),
        ("GET_MAINTENANCE_SCHEDULE", driver.getMaintenanceSchedule),
        ("GET_QUOTA", driver.getQuota),
        ("LIST_FILES", lambda: driver.listFiles("/nowhere")),
    ]
    for name, call in calls:
        try:
            report(call=name, ok=True, result=call())
        except Exception as error:  # the driver raises on any non-2xx
            report(call=name, ok=False, error=str(error))

    if args.subscribe:
        def on_subscribed(info):
            agents = info["get_state"].get("get_agents", {}).get("agents", [])
            report(event="SUBSCRIBED", agents=len(agents))
        driver.on_subscribed = on_subscribed
        driver.start()
        time.sleep(args.listen)
        driver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
