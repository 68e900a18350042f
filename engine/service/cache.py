"""The service's result cache, shared by the workers: diskcache on one machine, Redis across machines.

On disk by default (a diskcache under ``settings.cache_dir/results``, shared by every gunicorn
worker on one machine: a set is one SQLite row, ~0.1 ms, where flask-caching's FileSystemCache
wrote and renamed two files and under load cost a callback ~20 ms), flask-caching's Redis backend
when ``settings.redis_url`` is set (shared by every machine). A cache is an
optimisation, never a dependency: when the backend fails, requests go on uncached, one
warning is logged, and the backend is tried again after a back-off.

Small per-request values (recommendations, forecasts) are also kept in a bounded in-process
TTL-LRU (cachetools) in front of the backend: a repeat then costs a dictionary lookup, not a
backend read and an unpickle. Keys carry the bundle version and the data and feedback versions, so
a memoised value is never stale.

:class:`Memo` is the one in-process memo of values derived from a serving state (the target index,
a territory's worklist inputs, search orders): a cachetools LRU where one caller computes a missing
value while concurrent callers of the same key wait for it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time

import cachetools

from engine.config import Settings

log = logging.getLogger("engine.service.cache")

#: seconds to wait before trying a failed backend again
RETRY_AFTER_S = 5.0
#: entries of the in-process LRU in front of the backend (small values: ~1-5 kB each)
LOCAL_ENTRIES = 4096
#: bytes the on-disk cache keeps at most (a 40,000-HCP snapshot is ~60 MB)
DISK_SIZE_LIMIT = 2**31


def redis_client(url: str):
    """A Redis client that fails fast (the cache must never make a request slow)."""
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=0.25, socket_timeout=0.5,
                                health_check_interval=0)


class ServiceCache:
    """Get/set with hit, miss and error counters; survives a dead backend.

    Parameters
    ----------
    settings : uses ``redis_url``, ``cache_dir`` and ``cache_timeout``.
    namespace : key prefix, so several products can share one Redis database.
    retry_after_s : back-off after a backend failure.
    local_entries : size of the in-process TTL-LRU used by :meth:`get`, :meth:`set` and
        :meth:`get_or_compute` (0 turns it off; entries live ``cache_timeout`` seconds, as in the
        backend); :meth:`get_or_compute_once`, meant for large one-off values the caller keeps
        itself, bypasses it.
    """

    def __init__(self, settings: Settings, namespace: str = "nba:", retry_after_s: float = RETRY_AFTER_S,
                 local_entries: int = LOCAL_ENTRIES):
        self.timeout = settings.cache_timeout
        self.retry_after_s = retry_after_s
        if settings.redis_url:
            from flask_caching.backends import RedisCache

            self.backend_name = "redis"
            self.location = _redact(settings.redis_url)
            self._backend = RedisCache(host=redis_client(settings.redis_url), key_prefix=namespace,
                                       default_timeout=self.timeout)
        else:
            self.backend_name = "filesystem"
            self.location = str(settings.cache_dir / "results")
            self._backend = DiskBackend(settings.cache_dir / "results", default_timeout=self.timeout)
        self.hits = self.misses = self.errors = self.local_hits = 0
        self._local = _local_cache(local_entries, self.timeout)
        self._down_until = 0.0
        self._warned = False
        self._last_error = None
        self._lock = threading.Lock()

    # -- availability ----------------------------------------------------------------
    @property
    def available(self) -> bool:
        """False while the backend is in its back-off period after a failure."""
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self.errors += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            self._down_until = time.monotonic() + self.retry_after_s
            if not self._warned:  # one warning per outage, not one per request
                self._warned = True
                log.warning("cache backend %s at %s unavailable (%s); serving uncached, retrying every %.0fs",
                            self.backend_name, self.location, self._last_error, self.retry_after_s)

    def _recovered(self) -> None:
        if self._warned:
            with self._lock:
                if self._warned:
                    self._warned = False
                    log.warning("cache backend %s at %s is back", self.backend_name, self.location)

    # -- in-process TTL-LRU -------------------------------------------------------------
    def _local_get(self, key: str):
        if self._local is None:
            return None
        with self._lock:
            return self._local.get(key)

    def _local_set(self, key: str, value) -> None:
        if self._local is not None:
            with self._lock:
                self._local[key] = value

    # -- operations ------------------------------------------------------------------
    def get(self, key: str, local: bool = True):
        """The cached value, or None (miss, or backend down); ``local=False`` skips the in-process LRU."""
        if local:
            value = self._local_get(key)
            if value is not None:
                self.hits += 1
                self.local_hits += 1
                return value
        if not self.available:
            self.misses += 1
            return None
        try:
            value = self._backend.get(key)
        except Exception as exc:  # noqa: BLE001 - any backend failure means "uncached"
            self._failed(exc)
            self.misses += 1
            return None
        self._recovered()
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
            if local:
                self._local_set(key, value)
        return value

    def set(self, key: str, value, timeout: int | None = None, local: bool = True) -> None:
        """Store ``value`` in the backend for ``timeout`` seconds (default ``cache_timeout``) and, unless
        ``local=False``, in the in-process TTL-LRU (for ``cache_timeout``)."""
        if local:
            self._local_set(key, value)
        if not self.available:
            return
        try:
            self._backend.set(key, value, timeout=self.timeout if timeout is None else timeout)
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return
        self._recovered()

    def get_or_compute(self, key: str, compute, timeout: int | None = None):
        """Return the cached value for ``key``, computing and storing it on a miss."""
        value = self.get(key)
        if value is None:
            value = compute()
            if value is not None:
                self.set(key, value, timeout)
        return value

    def get_or_compute_once(self, key: str, compute, timeout: int | None = None, wait_s: float = 120.0):
        """:meth:`get_or_compute` where, across processes, only one computes a missing value at a time.

        The first process to claim ``key`` computes it; the others poll the cache while the claim
        stands (every gunicorn worker needs the same expensive value at start-up, and computing it
        twice at once only makes both slower). A claim lapses after ``wait_s`` seconds, when its
        owner finishes or fails, or when its owner process is gone (a worker killed mid-way);
        then a waiter computes the value itself.
        """
        value = self.get(key, local=False)
        if value is not None:
            return value
        claim = f"{key}:computing"
        me = (socket.gethostname(), os.getpid())
        claimed = self._claim(claim, me, wait_s)
        if not claimed:
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and self.available:
                time.sleep(0.2)
                try:
                    value, owner = self._backend.get(key), self._backend.get(claim)
                except Exception as exc:  # noqa: BLE001
                    self._failed(exc)
                    break
                if value is not None:
                    self.hits += 1
                    return value
                if owner is None or _gone(owner):
                    claimed = self._claim(claim, me, wait_s, force=True)
                    break
        try:
            value = compute()
            if value is not None:
                self.set(key, value, timeout, local=False)
            return value
        finally:
            if claimed:
                with contextlib.suppress(Exception):
                    self._backend.delete(claim)

    def _claim(self, claim: str, me: tuple, wait_s: float, force: bool = False) -> bool:
        if not self.available:
            return False
        try:
            if force:
                return bool(self._backend.set(claim, me, timeout=int(wait_s) + 1))
            if self._backend.add(claim, me, timeout=int(wait_s) + 1):
                return True
            owner = self._backend.get(claim)  # None: expired between the add and this get
            if owner is None or _gone(owner):
                return bool(self._backend.set(claim, me, timeout=int(wait_s) + 1))
            return False
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return False

    def probe(self) -> bool:
        """Write and read back a marker (not counted as a hit or miss); False when the backend fails."""
        if not self.available:
            return False
        try:
            marker = time.time()
            self._backend.set("health-probe", marker, timeout=60)
            ok = self._backend.get("health-probe") == marker
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return False
        self._recovered()
        return ok

    def clear(self) -> None:
        if self._local is not None:
            with self._lock:
                self._local.clear()
        try:
            self._backend.clear()
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)

    def status(self) -> dict:
        lookups = self.hits + self.misses
        return {
            "backend": self.backend_name,
            "location": self.location,
            "available": self.available,
            "hits": self.hits,
            "local_hits": self.local_hits,
            "local_entries": 0 if self._local is None else len(self._local),
            "misses": self.misses,
            "errors": self.errors,
            "hit_rate": round(self.hits / lookups, 4) if lookups else None,
            "timeout_s": self.timeout,
            "last_error": self._last_error,
        }


class DiskBackend:
    """A diskcache (SQLite index, large values in files) behind the calls :class:`ServiceCache` makes
    of a flask-caching backend: ``get``, ``set``/``add`` with a timeout in seconds (0: no expiry),
    ``delete``, ``clear``. Over :data:`DISK_SIZE_LIMIT` the oldest entries go first."""

    def __init__(self, directory, default_timeout: int):
        import diskcache

        self._cache = diskcache.Cache(str(directory), size_limit=DISK_SIZE_LIMIT,
                                      eviction_policy="least-recently-stored")
        self.default_timeout = default_timeout

    def _expire(self, timeout: int | None) -> int | None:
        timeout = self.default_timeout if timeout is None else timeout
        return timeout or None

    def get(self, key: str):
        return self._cache.get(key)

    def set(self, key: str, value, timeout: int | None = None) -> bool:
        return self._cache.set(key, value, expire=self._expire(timeout))

    def add(self, key: str, value, timeout: int | None = None) -> bool:
        return self._cache.add(key, value, expire=self._expire(timeout))

    def delete(self, key: str) -> bool:
        return self._cache.delete(key)

    def clear(self) -> None:
        self._cache.clear()


def _local_cache(entries: int, timeout: int):
    """The in-process cache in front of the backend: None when off, else a TTL-LRU (LRU when the
    timeout is 0, which means "no expiry" in the backends too)."""
    if entries <= 0:
        return None
    return cachetools.TTLCache(entries, ttl=timeout) if timeout else cachetools.LRUCache(entries)


class Memo:
    """A bounded in-process memo: ``memo(key, compute)`` returns the value kept for ``key`` or computes,
    keeps and returns it; while one caller computes a key, other callers of that key wait for it.

    Keys must name everything the value depends on; values derived from the serving state start with
    :attr:`engine.service.state.Live.key` (bundle version, data version, as-of day, feedback
    version), so an entry is never stale and entries of superseded states simply age out of the LRU.

    Parameters
    ----------
    maxsize : entries kept (least recently used first out): small for large values (a target index).
    """

    def __init__(self, maxsize: int):
        self._cache = cachetools.LRUCache(maxsize)
        self._memo = cachetools.cached(self._cache, key=lambda key, _compute: key, condition=threading.Condition())(
            lambda _key, compute: compute())

    def __call__(self, key, compute):
        return self._memo(key, compute)

    def __len__(self) -> int:
        return len(self._cache)


def _gone(owner) -> bool:
    """True when a claim's owner ``(host, pid)`` is a process of this host that no longer runs."""
    try:
        host, pid = owner
    except (TypeError, ValueError):
        return True
    if host != socket.gethostname():
        return False  # another machine's process: trust its claim until it lapses
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _redact(url: str) -> str:
    """``redis://user:secret@host`` -> ``redis://***@host`` (status pages must not show passwords)."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"
