"""pymesos's operator client (`MesosOperatorAgentDriver`) against an agent.

Usage: pymesos_operator_agent.py <agent host:port> <sandbox virtual path>

Calls every GET the agent driver has (GET_CONTAINERS included) (plus SET_LOGGING_LEVEL, LIST_FILES and
READ_FILE) and prints one JSON line per call: {"call": ..., "response": ...}
or {"call": ..., "error": ...}. The driver posts JSON to /api/v1/operator
without an Accept header.
"""

import json
import sys

from pymesos import MesosOperatorAgentDriver


def main():
    agent, sandbox = sys.argv[1], sys.argv[2]
    driver = MesosOperatorAgentDriver(agent)
    calls = [
        ("GET_HEALTH", driver.getHealth),
        ("GET_FLAGS", driver.getFlags),
        ("GET_VERSION", driver.getVersion),
        ("GET_METRICS", lambda: driver.getMetrics(5 * 10**9)),
        ("SET_LOGGING_LEVEL", lambda: driver.setLoggingLevel(1, 60 * 10**9)),
        ("GET_LOGGING_LEVEL", driver.getLoggingLevel),
        ("LIST_FILES", lambda: driver.listFiles(sandbox)),
        ("READ_FILE", lambda: driver.readFile(sandbox + "/stdout", 1024, 0)),
        ("GET_STATE", driver.getState),
        ("GET_FRAMEWORKS", driver.getFrameworks),
        ("GET_EXECUTORS", driver.getExecutors),
        ("GET_TASKS", driver.getTasks),
        ("GET_CONTAINERS", driver.getContainers),
    ]
    for name, call in calls:
        try:
            print(json.dumps({"call": name, "response": call()}), flush=True)
        except Exception as e:  # reported, judged by the Rust test
            print(json.dumps({"call": name, "error": str(e)}), flush=True)


if __name__ == "__main__":
    main()
