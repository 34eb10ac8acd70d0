"""Run ``iotedgedev genconfig`` for many templates in one interpreter (run by iotedgedev's own venv).

iotedgedev reads ``.env`` when ``iotedgedev.cli`` is imported, so each job is a forked child that imports
it after moving to its folder with its own environment; the parent imports the heavy dependencies once.
Usage: python iotedgedev_driver.py jobs.json   (a list of {folder, template, platform, env}); each job
leaves ``exit_code`` and ``output.log`` in its folder.
"""

import json
import os
import sys

# Imported once here, inherited by every child: most of iotedgedev's start-up time.
import iotedgedev.deploymentmanifest
import iotedgedev.dockercls
import iotedgedev.modules  # noqa: F401


def run_job(job):
    os.chdir(job["folder"])
    os.environ.clear()
    os.environ.update(job["env"])
    log = os.open("output.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    code = 1
    try:
        from iotedgedev.cli import main

        main.main(
            args=["genconfig", "-f", job["template"], "-P", job["platform"]],
            prog_name="iotedgedev",
            standalone_mode=False,
        )
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # noqa: BLE001 - the job's failure is data: report it, do not stop the others
        print(f"driver: {type(exc).__name__}: {exc}")
    sys.stdout.flush()
    sys.stderr.flush()
    with open("exit_code", "w") as handle:
        handle.write(str(code))
    os._exit(0)


def main():
    with open(sys.argv[1]) as handle:
        jobs = json.load(handle)
    running: list[int] = []
    for job in jobs:
        if len(running) >= 2:  # two cores
            os.waitpid(running.pop(0), 0)
        pid = os.fork()
        if pid == 0:
            run_job(job)
        running.append(pid)
    for pid in running:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
