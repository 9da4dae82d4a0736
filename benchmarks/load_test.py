"""Load test of the running demo: N concurrent gradio_client clients, each sending R translations.

    python -m benchmarks.load_test                       # 20 clients x 5 requests, the app's own examples
    python -m benchmarks.load_test --size 512            # every upload resized to 512x512 (the app's largest)

It starts `python app.py` on 127.0.0.1 (a free port, the models in checkpoints/, no zoo), waits until it
answers, runs the clients in threads, and stops the app, all within --timeout seconds: a request that has
not finished by then counts as a failure. Each client cycles through examples/examples.json (the shipped
models, each example with its own direction), the clients' starting points spread over the list.
Prints a Markdown table and writes benchmarks/results/load_test.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import ROOT, describe, hardware, markdown_table, write_results
from cyclegan.testing import free_port


def start_app(port: int, log: Path, extra: list[str]) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--no-zoo", *extra],
                            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_until_up(url: str, app: subprocess.Popen, deadline: float) -> None:
    import httpx
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise RuntimeError(f"the app exited with code {app.returncode} before answering")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("the app did not answer in time")


def uploads(size: int, folder: Path) -> list[tuple[str, str, str]]:
    """(image path, model, direction) of every example; with ``size``, copies resized to size x size."""
    from PIL import Image
    rows = []
    for e in json.loads((ROOT / "examples" / "examples.json").read_text()):
        path = ROOT / "examples" / e["file"]
        if size:
            resized = folder / f"{path.stem}_{size}.png"
            Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BICUBIC).save(resized)
            path = resized
        rows.append((str(path), e["model"], e.get("direction", "AtoB")))
    return rows


def client_run(url: str, jobs: list[tuple[str, str, str]], results: list[dict], start: threading.Barrier) -> None:
    from gradio_client import Client, handle_file
    try:
        client = Client(url, verbose=False)
    except Exception as e:  # a client that cannot connect fails all its requests
        results += [{"model": m, "ok": False, "error": f"connect: {type(e).__name__}: {e}"} for _, m, _ in jobs]
        start.wait()
        return
    start.wait()  # all clients send their first request together
    for path, model, direction in jobs:
        t0 = time.perf_counter()
        try:
            out = client.predict(handle_file(path), model, direction, api_name="/translate")
            ok = out is not None and len(out) == 6 and out[1] is not None
            results.append({"model": model, "ok": ok, "seconds": time.perf_counter() - t0,
                            "server_seconds": out[3] if ok else None})
        except Exception as e:
            results.append({"model": model, "ok": False, "seconds": time.perf_counter() - t0,
                            "error": f"{type(e).__name__}: {str(e)[:200]}"})


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))]


def summary(label: str, rows: list[dict], expected: int) -> dict:
    ok = [r["seconds"] for r in rows if r["ok"]]
    server = [r["server_seconds"] for r in rows if r["ok"] and r.get("server_seconds") is not None]
    return {"requests": label, "sent": expected, "ok": len(ok), "failures": expected - len(ok),
            "p50_s": statistics.median(ok) if ok else None, "p95_s": percentile(ok, 95) if ok else None,
            "max_s": max(ok) if ok else None,
            "server_median_s": statistics.median(server) if server else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--requests", type=int, default=5, help="requests per client, one after another")
    p.add_argument("--size", type=int, default=0, help="resize every upload to size x size (0: as they are)")
    p.add_argument("--timeout", type=float, default=600, help="seconds for everything, start-up included")
    p.add_argument("--app-args", default="", help="extra arguments for app.py, e.g. '--concurrency 2'")
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/results/load_test.json)")
    args = p.parse_args(argv)

    deadline = time.monotonic() + args.timeout
    port, tmp = free_port(), Path(tempfile.mkdtemp(prefix="cyclegan-load-"))
    url = f"http://127.0.0.1:{port}/"
    app = start_app(port, tmp / "app.log", args.app_args.split())
    results: list[dict] = []
    try:
        t0 = time.monotonic()
        wait_until_up(url, app, deadline)
        startup = time.monotonic() - t0
        examples = uploads(args.size, tmp)
        plan = [[examples[(c * len(examples) // args.clients + i) % len(examples)] for i in range(args.requests)]
                for c in range(args.clients)]
        start = threading.Barrier(args.clients)
        threads = [threading.Thread(target=client_run, args=(url, jobs, results, start), daemon=True) for jobs in plan]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        wall = time.perf_counter() - t0
        timed_out = sum(t.is_alive() for t in threads)
    finally:
        app.terminate()
        try:
            app.wait(10)
        except subprocess.TimeoutExpired:
            app.kill()
    rows = list(results)  # threads still running past the deadline may append later: count them as failures
    expected = args.clients * args.requests
    table = [summary("all", rows, expected)]
    for model in sorted({m for _, m, _ in examples}):
        n = sum(1 for jobs in plan for _, m, _ in jobs if m == model)
        table.append(summary(model, [r for r in rows if r["model"] == model], n))
    info = hardware("cpu")
    errors = sorted({r["error"] for r in rows if not r["ok"] and "error" in r})[:5]
    payload = {"hardware": info, "command": " ".join(sys.argv), "time": time.strftime("%Y-%m-%d %H:%M"),
               "clients": args.clients, "requests_per_client": args.requests, "size": args.size or "as shipped",
               "app_args": args.app_args, "startup_s": round(startup, 1), "wall_s": round(wall, 1),
               "throughput_per_s": round(len([r for r in rows if r["ok"]]) / wall, 2), "clients_timed_out": timed_out,
               "errors": errors, "summary": table, "requests": rows}
    print(f"# Load test on {describe(info)}\n\n{args.clients} clients x {args.requests} requests, uploads "
          f"{'resized to %dx%d' % (args.size, args.size) if args.size else 'as in examples/'}, app "
          f"{args.app_args or 'defaults'}; start-up {startup:.1f} s, wall {wall:.1f} s, "
          f"{payload['throughput_per_s']} requests/s.\n")
    print(markdown_table(table, [("requests", "requests"), ("sent", "sent"), ("ok", "ok"), ("failures", "failures"),
                                 ("p50_s", "p50 latency (s)"), ("p95_s", "p95 latency (s)"), ("max_s", "max (s)"),
                                 ("server_median_s", "server time, median (s)")]))
    for e in errors:
        print(f"error: {e}")
    path = write_results("load_test", payload, args.out)
    print(f"\nwrote {path}", file=sys.stderr)
    return 0 if table[0]["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
