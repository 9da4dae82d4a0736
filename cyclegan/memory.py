"""Handing memory back to the system, for a server that decodes pictures and clips for strangers: glibc's malloc
arenas limited (each thread that allocates while another does would keep its own high-water mark), and the heap's
freed pages returned after each request (``Reclaimer.settle``)."""
from __future__ import annotations

import ctypes
import threading
import time


def _libc_malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


_malloc_trim = _libc_malloc_trim()
M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """At most ``arenas`` glibc malloc arenas from now on (glibc's default: 8 per core). Each thread that allocates
    while another does gets an arena of its own, and memory freed in one is not reused by another: the server's
    worker threads and FFmpeg's decoding threads each kept their own high-water mark, and RSS grew by ~150 MB under a
    load of videos (to 2 arenas: ~10 MB). Whether glibc took the setting."""
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc: its allocator has its own ways
        return False


class Reclaimer:
    """Returns freed heap memory to the system after requests: ``settle`` at most every ``every`` seconds, and once
    more ``every`` seconds after a request that came sooner, so that a server gone idle has handed back what its
    last requests used."""

    def __init__(self, every: float = 2.0):
        self.every, self._trimmed, self._later = every, -float("inf"), None

    def settle(self) -> None:
        """After a request, failed or not: hand the memory its pictures and frames used back to the system (glibc
        keeps freed heap pages otherwise, in every thread's arena, and the server's RSS only grows)."""
        if _malloc_trim is None:
            return
        now = time.monotonic()
        if now - self._trimmed >= self.every:
            self._trimmed = now
            _malloc_trim(0)
        elif self._later is None or not self._later.is_alive():  # (two at once at worst: a trim costs milliseconds)
            self._later = threading.Timer(self.every - (now - self._trimmed), self.settle)
            self._later.daemon = True
            self._later.start()
