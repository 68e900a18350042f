"""gunicorn settings (Procfile: ``web: gunicorn -c gunicorn.conf.py webapp.wsgi:server``).

Environment: PORT (default 8050), WEB_CONCURRENCY (workers, default 2), GUNICORN_THREADS
(default 4), GUNICORN_TIMEOUT (default 60 s), GUNICORN_KEEPALIVE (default 0 s, see below).
"""
import ctypes
import gc
import os
import time

# Memory of a long-lived worker (measured on the 40,000-HCP world, benchmarks/worker_memory.py):
# pandas' pyarrow strings allocate from mimalloc, which keeps what it frees; the system allocator
# gives it back. Read when pyarrow first allocates, so set before the app is imported.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
# glibc raises its mmap threshold after each large free (up to 32 MB), so the arrays a worker builds
# and drops land in the heap and fragment it; a fixed threshold gives them back to the system when
# freed. Two arenas, not eight per core, for the few gthread threads. (Together with the system pool
# above: 573 -> 497 MB resident per worker.) mallopt is glibc's; elsewhere the defaults stay.
_libc = ctypes.CDLL(None)
if hasattr(_libc, "mallopt"):
    _libc.mallopt(-3, 1024 * 1024)  # M_MMAP_THRESHOLD
    _libc.mallopt(-8, 2)  # M_ARENA_MAX

bind = f"0.0.0.0:{os.environ.get('PORT', '8050')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# No HTTP keep-alive by default: a kept-alive connection stays with the worker that accepted it,
# and when both are idle the kernel hands new connections to the same one, so a few dozen users
# signed in at a quiet moment all ended up on one worker (measured: 11 s vs 1 s of CPU under the
# web benchmark; p95 336 -> 249 ms with keep-alive off). A new connection per callback re-balances
# by load, since a busy worker is slower to accept; on loopback or behind a proxy a connect costs
# well under a millisecond.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "0"))
# Recycle workers now and then (bounded memory growth); jitter avoids all restarting at once.
# Rarely: a restarted worker catches up with whatever changed since the master loaded the service
# (post_worker_init), and at dashboard request rates (70/s) every 1,000 requests was a restart per
# worker every half minute.
max_requests = 20000
max_requests_jitter = 2000
# The master imports the app once (Dash, pages, pandas: about a second of CPU), then loads and warms
# the service (when_ready: the data snapshot, the numpy-only serving bundle, never Keras or
# TensorFlow; the target index and worklists) and forks the workers from it. A worker starts at once
# and shares those pages with the master until it writes to them; connections and background
# readers are opened per process (host_state, Redis, the version watchers).
# New code needs a full restart: a HUP re-forks the workers from the app already imported.
preload_app = True
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # empty: no access log
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# Trust X-Forwarded-* only from the local proxy (Procfile platforms terminate TLS in front).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's admin control socket defaults to one fixed path per user: several servers on one
# host (tests, benchmarks, staging) would fight over it, and nothing here uses it.
control_socket_disable = True


def when_ready(server):
    """Load and warm the service in the master, once, before the first worker is forked.

    A failure is logged and each worker loads the service itself (post_worker_init).
    """
    if not server.cfg.preload_app:  # the workers import the app themselves
        return
    from webapp.extensions import nba

    started = time.perf_counter()
    try:
        nba.preload()
        server.log.info("master: serving bundle %s loaded and warmed in %.1fs", nba.service.version,
                        time.perf_counter() - started)
    except Exception:  # noqa: BLE001 - the workers retry
        server.log.exception("master: loading the service failed; each worker loads it")
    # What the load freed goes back to the system rather than into every worker's copy of the heap;
    # objects alive now are left out of the workers' garbage collections (which would write to them).
    gc.collect()
    if hasattr(_libc, "malloc_trim"):
        _libc.malloc_trim(0)
    gc.freeze()


def post_worker_init(worker):
    """Make sure the service is loaded and current before the worker takes requests.

    It usually comes loaded from the master; a worker forked later (a restart, a HUP) first follows
    the data, feedback and bundle versions that moved since. Without the master's copy the worker
    loads the service here, so the first request never waits for the model load; a failure is
    logged and the service retries lazily on the first request.
    """
    from webapp.extensions import nba

    try:
        service = nba.service
        service.refresh_data()
        worker.log.info("worker %s: serving bundle %s", worker.pid, service.current_version())
    except Exception:  # keep serving pages that need no model; health shows the problem
        worker.log.exception("worker %s: service warm-up failed", worker.pid)
