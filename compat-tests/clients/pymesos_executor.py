"""A pymesos custom executor (v1 executor HTTP API, JSON).

  hello       print `hello` to stdout (the sandbox's stdout file), then
              report TASK_STARTING, TASK_RUNNING, TASK_FINISHED
  exit-early  report TASK_RUNNING, then exit without a terminal update
"""
import os
import sys
import threading
import time

from pymesos import MesosExecutorDriver, Executor, encode_data


class CompatExecutor(Executor):
    def __init__(self, mode):
        self.mode = mode

    def launchTask(self, driver, task):
        def run():
            def update(state, message=None):
                status = {
                    "task_id": task["task_id"],
                    "state": state,
                    "timestamp": time.time(),
                }
                if message:
                    status["message"] = message
                driver.sendStatusUpdate(status)

            update("TASK_STARTING")
            update("TASK_RUNNING")
            if self.mode == "exit-early":
                time.sleep(1)
                os._exit(3)
            sys.stdout.write("hello\n")
            sys.stdout.flush()
            update("TASK_FINISHED", "custom executor said hello")
            # Give the agent time to acknowledge before we leave.
            time.sleep(2)
            driver.stop()

        threading.Thread(target=run, daemon=True).start()

    def killTask(self, driver, task_id):
        driver.sendStatusUpdate({"task_id": task_id, "state": "TASK_KILLED"})


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "hello"
    driver = MesosExecutorDriver(CompatExecutor(mode), use_addict=False)
    driver.run()
