"""Shared helpers of the benchmark scripts: hardware description, timing, Markdown tables, JSON results."""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import time
from pathlib import Path

import torch

from cyclegan.testing import peak_rss_mb  # noqa: F401  (the benchmarks' name for it)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED_DATA = ROOT.parent / "shared" / "data"


def data_folder(name: str) -> Path:
    """A data set's folder: the project machines' copy beside the checkout (../shared/data/NAME) when there is one,
    else the standard CycleGAN set of that name, downloaded once into datasets/ (so the benchmarks run from a bare
    clone; its README says where the project's copies differ from the standard sets)."""
    if (SHARED_DATA / name).is_dir():
        return SHARED_DATA / name
    from cyclegan.datasets import dataset_folder
    return dataset_folder(name, ROOT / "datasets")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device | str = "cpu") -> dict:
    """What the numbers were measured on."""
    device = torch.device(device)
    info = {"cpu": cpu_model(), "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__, "os": platform.platform()}
    try:
        import onnxruntime
        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_memory_gb"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
    return info


def describe(info: dict) -> str:
    gpu = f", GPU {info['gpu']} ({info['gpu_memory_gb']} GB)" if "gpu" in info else ", no GPU"
    return (f"CPU {info['cpu']} ({info['cpu_cores']} cores, {info['torch_threads']} torch threads){gpu}; "
            f"torch {info['torch']}" + (f", onnxruntime {info['onnxruntime']}" if "onnxruntime" in info else ""))


def busy_processes(pattern: str = "train.py") -> list[str]:
    """Other processes that would distort timings (the benchmarks warn when they find some)."""
    try:
        out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout
    except OSError:
        return []
    return [line for line in out.splitlines() if str(os.getpid()) != line.split()[0] and "pgrep" not in line]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Timer:
    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)

    def __enter__(self) -> "Timer":
        sync(self.device)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        sync(self.device)
        self.seconds = time.perf_counter() - self.t0


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """rows of dicts -> a Markdown table with the given (key, header) columns; missing values print as '-'."""
    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(k)) for k, _ in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_results(name: str, payload: dict, out: str | Path | None = None) -> Path:
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


class ForeignLoad:
    """CPU time used by *other* processes while a benchmark runs, in cores (busy jiffies from /proc/stat
    minus this process's and its children's CPU time): timings are trustworthy only when it is near 0."""

    @staticmethod
    def _busy_seconds() -> float | None:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own_seconds() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def __enter__(self) -> "ForeignLoad":
        self.t0, self.busy0, self.own0 = time.perf_counter(), self._busy_seconds(), self._own_seconds()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.t0
        busy = self._busy_seconds()
        # /proc/stat counts in clock ticks (10 ms): meaningless over short windows
        self.cores = None if busy is None or self.busy0 is None or wall < 0.5 else max(
            0.0, (busy - self.busy0 - (self._own_seconds() - self.own0)) / wall)


QUIET = 0.15  # cores of foreign load above which a timed run is discarded and repeated


def clean_runs(run, n: int, max_attempts: int | None = None) -> tuple[list[float], int, list[float]]:
    """Call ``run()`` (returns seconds) until ``n`` runs saw no foreign load (< QUIET cores), waiting for quiet
    between attempts. Returns (clean times, runs discarded, foreign loads of the clean runs)."""
    times, loads, dropped = [], [], 0
    for _ in range(max_attempts or 4 * n):
        with ForeignLoad() as load:
            seconds = run()
        if load.cores is not None and load.cores >= QUIET:
            dropped += 1
            time.sleep(3)
            continue
        times.append(seconds)
        loads.append(load.cores or 0.0)
        if len(times) == n:
            break
    return times, dropped, loads


def label_width(rows: list[tuple[str, list]], at_least: int) -> int:
    """A label column for ``labelled_grid`` wide enough for the longest row label (about 7 px a character)."""
    return max(at_least, 7 * max(len(label) for label, _ in rows))


def labelled_grid(rows: list[tuple[str, list]], size: int, label_w: int, width: int | None = None):
    """PIL images ``size`` px high (and ``width`` wide, default square) in rows, each row's label in a left column
    ``label_w`` px wide, 4 px apart."""
    from PIL import Image, ImageDraw
    n, width = max(len(images) for _, images in rows), width or size
    grid = Image.new("RGB", (label_w + n * (width + 4), len(rows) * (size + 4)), "white")
    draw = ImageDraw.Draw(grid)
    for r, (label, images) in enumerate(rows):
        draw.text((4, r * (size + 4) + size // 2 - 6), label, fill="black")
        for c, im in enumerate(images):
            grid.paste(im, (label_w + c * (width + 4), r * (size + 4)))
    return grid


def save_picture(image, path: Path) -> None:
    """PNG, or JPEG at quality 88 for a .jpg / .jpeg path (the big 512 px figures)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=88) if path.suffix.lower() in (".jpg", ".jpeg") else image.save(path)
