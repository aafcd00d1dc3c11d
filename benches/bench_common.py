"""What the reference benchmarks print about the machine they ran on (imported by the scripts
beside it; `python3 benches/<script>.py` puts this folder on the import path)."""

import datetime
import os
import platform


def machine_info(**versions):
    """CPU model, core count, Python version, `versions` (package name -> version) and the date."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), **versions,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
