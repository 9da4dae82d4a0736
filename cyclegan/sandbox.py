"""Decoding a stranger's picture where it can be abandoned: in a child process whose memory and CPU time the kernel
caps (``setrlimit``), waited for at most a deadline, then killed.

Pillow's readers do work that no check at the entrance bounds: a TIFF's directories, a JPEG's scans, a PNG's chunks,
metadata that points at itself. ``decode.decode_image`` refuses what it can name (formats, pixels, scans, EXIF read
a bounded way); the sandbox bounds the rest, whatever the file makes the decoder do.

One helper process (``python -m cyclegan.sandbox``: a fresh interpreter that imports Pillow and NumPy, never torch
or the app) forks a child for each picture, so a picture costs a fork (milliseconds), the child's memory cap is
counted from that small process, and nothing of the server (its threads, its models, its main module) is copied
into the child. The helper enforces the deadline and reports how the child ended; the server restarts a helper that
stops answering. Where there is no ``fork`` (Windows) pictures are decoded in the server, with ``decode``'s checks
only; macOS does not enforce the memory cap (the deadline holds).

    picture = Sandbox(memory_bytes=512 << 20, seconds=5).decode("upload.png", max_side=512, max_pixels=30_000_000)
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from PIL import Image

from .decode import decode_image, human_size
from .errors import BadImage


def _limit(memory_bytes: int, cpu_seconds: int) -> None:
    """Cap this process: its address space at what it maps now plus ``memory_bytes`` (an allocation beyond fails, and
    Pillow raises MemoryError), its CPU time at ``cpu_seconds`` (then the kernel stops it)."""
    import resource
    try:
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (mapped + memory_bytes, mapped + memory_bytes))
    except (OSError, ValueError):  # no /proc (macOS, which does not enforce RLIMIT_AS anyway)
        pass
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


def _decode_in_child(request: dict) -> tuple:
    """In the forked child, under the caps: the decoded picture as ("ok", size, RGB bytes), or why not."""
    _limit(request["memory_bytes"], request["cpu_seconds"])
    try:
        image = decode_image(request["source"], **request["limits"])
        return ("ok", image.size, image.tobytes())
    except BadImage as e:
        return ("bad", str(e))
    except MemoryError:
        return ("memory",)


def _serve_one(request: dict) -> tuple:
    """In the helper: fork a child for ``request``, wait for its answer until the deadline, and say how it went."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        try:
            message = _decode_in_child(request)
        except BaseException as e:  # a decoder's own failure: reported, never raised into the helper's loop
            message = ("bad", f"corrupted or truncated image: {e}")
        with os.fdopen(write_fd, "wb") as out:
            out.write(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        os._exit(0)
    os.close(write_fd)
    deadline, chunks = time.monotonic() + request["seconds"], []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                chunks = [pickle.dumps(("timeout",))]
                break
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        _, status, usage = os.wait4(pid, 0)
        cost = {"peak_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}
    if not chunks:  # killed (the CPU cap) or crashed before it could answer
        return ("died", os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status), cost)
    return (*pickle.loads(b"".join(chunks)), cost)


def _helper_main() -> None:
    """The helper's loop: requests in on fd 0, answers out on fd 1, until fd 0 closes."""
    import numpy  # noqa: F401  (imported once here, so that each child has it already)
    requests, answers = Connection(os.dup(0), writable=False), Connection(os.dup(1), readable=False)
    while True:
        try:
            request = requests.recv()
        except (EOFError, OSError):
            return
        answers.send(_serve_one(request))


class Helper:
    """The one helper process of this server, shared by every ``Sandbox`` (each request carries its own bounds):
    started on first use, asked one picture at a time, replaced when it dies or stops answering."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.conns: tuple[Connection, Connection] | None = None
        self.lock = threading.Lock()

    def stop(self) -> None:
        if self.conns:
            for conn in self.conns:
                conn.close()
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process, self.conns = None, None

    def start(self) -> None:
        self.stop()
        # The package's parent first on the path: the helper imports this copy of cyclegan, installed or not.
        path = os.pathsep.join([str(Path(__file__).resolve().parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])])
        self.process = subprocess.Popen([sys.executable, "-m", "cyclegan.sandbox"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": path,
                                                                     "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
        self.conns = (Connection(os.dup(self.process.stdin.fileno()), readable=False),
                      Connection(os.dup(self.process.stdout.fileno()), writable=False))
        self.process.stdin.close()
        self.process.stdout.close()

    def ask(self, request: dict) -> tuple:
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self.start()
            send, receive = self.conns
            try:
                send.send(request)
                # The helper answers within the deadline; one that does not (it died, it hangs) is replaced.
                if receive.poll(request["seconds"] + 30):
                    return receive.recv()
            except (EOFError, OSError):
                pass
            self.stop()
            return ("died", None)


HELPER = Helper()


@dataclass
class Sandbox:
    """Where the server decodes uploads: at most ``memory_bytes`` of memory and ``seconds`` of time a picture (wall
    time, and as much CPU time); past either the child is killed, and ``BadImage`` says which bound the file crossed.
    One picture at a time through the process's helper (the others wait their turn: decoding is short beside
    translating)."""

    memory_bytes: int = 512 * 1024 ** 2
    seconds: float = 5.0
    # What the last picture cost its child: {"peak_mb": resident memory at its peak, "cpu_s": CPU seconds}.
    last_cost: dict = field(default_factory=dict, init=False, repr=False)

    def start(self) -> None:
        """Start the helper now (about a second), so that the first upload does not wait for it."""
        self.decode(_TINY_PNG, name="a test picture")

    def close(self) -> None:
        """Stop the helper (a later ``decode`` starts another)."""
        with HELPER.lock:
            HELPER.stop()

    def decode(self, source: str | Path | bytes, *, name: str = "the upload", **limits: Any) -> Image.Image:
        """``uploads.decode_image(source, name=name, **limits)``, done in a child process within the sandbox's
        bounds; ``BadImage`` for a bad file, a file over ``limits`` and a file over the bounds alike."""
        if not hasattr(os, "fork"):  # Windows: no child to abandon; decode_image's own checks are the bounds
            return decode_image(source, name=name, **limits)
        request = {"source": source if isinstance(source, bytes) else os.path.abspath(source),
                   "limits": {**limits, "name": name}, "memory_bytes": self.memory_bytes, "cpu_seconds": max(1, round(self.seconds)),
                   "seconds": self.seconds}
        message = HELPER.ask(request)
        message, self.last_cost = (message[:-1], message[-1]) if isinstance(message[-1], dict) else (message, {})
        if message[0] == "ok":
            return Image.frombytes("RGB", message[1], message[2])
        if message[0] == "bad":
            raise BadImage(message[1])
        if message[0] == "timeout" or message == ("died", signal.SIGXCPU) or message == ("died", signal.SIGKILL):
            raise BadImage(f"too costly to decode: {name} takes more than {self.seconds:g} s to decode (the limit)")
        if message[0] == "memory":
            raise BadImage(f"too costly to decode: {name} needs more than {human_size(self.memory_bytes)} of memory "
                           "to decode (the limit)")
        raise BadImage(f"cannot decode {name}: its decoder stopped (a damaged file, or more than the "
                       f"{human_size(self.memory_bytes)} of memory a picture may take)")


# A 1x1 PNG: what ``start`` decodes.
_TINY_PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63f8"
                          "ffff3f0005fe02fe0d0ce6a40000000049454e44ae426082")

if __name__ == "__main__":
    _helper_main()
