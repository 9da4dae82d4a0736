"""What each kind of attack costs the served app, one at a time: the peak of the server's resident memory above
where it stood (Linux's VmHWM, reset before each request), the seconds until the answer, what the answer was, and
the bytes left on the app's disk.

    python -m benchmarks.attacks          # starts python app.py on 127.0.0.1; writes benchmarks/results/attacks.json

The attacks are those of the soak (benchmarks/soak.py), sent once each to an idle server after a warm-up, plus an
upload beyond the disk budget (the app runs with --max-disk 60mb here: ten uploads of 9 MB in a row). Prints a
Markdown table (docs/PERFORMANCE.md, "What each attack costs").
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import describe, hardware, markdown_table, write_results
from benchmarks.load_test import start_app, wait_until_up
from cyclegan.testing import free_port
from benchmarks.soak import make_inputs, requests, send


def status(pid: int, key: str) -> float:
    """A field of /proc/PID/status in MB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(pid: int) -> None:
    """Set the process's peak RSS (VmHWM) to its RSS now (Linux: writing 5 to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    p.add_argument("--out", type=Path, default=None, help="the JSON's path (default benchmarks/results/attacks.json)")
    args = p.parse_args(argv)
    import httpx
    from gradio_client import Client
    from cyclegan.uploads import DiskBudget
    work = Path(tempfile.mkdtemp(prefix="cyclegan-attacks-"))
    app, rows = None, []
    try:
        files = make_inputs(work / "inputs")
        secret = work / "secret" / "photo.png"
        secret.parent.mkdir()
        shutil.copy(files["small"], secret)
        gradio = work / "gradio"
        gradio.mkdir()
        import os
        os.environ["GRADIO_TEMP_DIR"] = str(gradio)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        app = start_app(port, work / "app.log", ["--client-inference", "off", "--examples", str(work / "none"),
                                                  "--max-disk", "60mb"])
        temp = gradio / f"cyclegan-app-{app.pid}"
        wait_until_up(url + "/config", app, time.monotonic() + 300)
        link = temp / "link.png"
        link.symlink_to(secret)
        plan = requests(files, secret, link)
        client = Client(url, verbose=False, download_files=str(work / "downloads"))
        for kind, _, spec in plan[:3]:  # warm-up: models loaded, codecs opened
            send(client, url, kind, spec, files)
        for kind, _, spec in plan:
            time.sleep(2.5)  # the server's memory handed back after the last request (Demo.settle)
            before = status(app.pid, "VmRSS")
            reset_peak(app.pid)
            outcome = send(client, url, kind, spec, files)
            rows.append({"kind": kind, "expected": spec[0], "passed": outcome["passed"],
                         "seconds": round(outcome["seconds"], 2),
                         "peak_mb": round(status(app.pid, "VmHWM") - before, 1),
                         "answer": outcome["message"][:70]})
            print(rows[-1], flush=True)
        # Uploads beyond the disk budget: ten 9 MB uploads in a row into a 60 MB folder.
        answers = []
        for i in range(10):
            answers.append(httpx.post(f"{url}/gradio_api/upload", files={"files": (f"big{i}.bin", bytes(9 * 1024 ** 2))},
                                      timeout=60).status_code)
        used = DiskBudget(temp, 1).used()
        rows.append({"kind": "ten 9 MB uploads, --max-disk 60mb", "expected": "507 past the budget",
                     "passed": used <= 60 * 1024 ** 2 and 507 in answers, "seconds": "-", "peak_mb": "-",
                     "answer": f"{answers.count(200)} taken, {answers.count(507)} refused (507); "
                               f"{used / 1024 ** 2:.1f} MB on disk"})
        print(rows[-1])
    finally:
        if app is not None:
            app.terminate()
            app.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"Hardware: {describe(hardware())}\n")
    print(markdown_table(rows, [("kind", "attack"), ("passed", "answered as expected"), ("seconds", "seconds"),
                                ("peak_mb", "server's peak RSS above its level (MB)"), ("answer", "answer")]))
    print(f"wrote {write_results('attacks', {'rows': rows, 'hardware': hardware()}, args.out)}")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
