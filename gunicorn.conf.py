"""gunicorn settings (Procfile: ``web: gunicorn -c gunicorn.conf.py webapp.wsgi:server``).

Environment: PORT (default 8050), WEB_CONCURRENCY (workers, default 2), GUNICORN_THREADS
(default 4), GUNICORN_TIMEOUT (default 60 s), GUNICORN_KEEPALIVE (default 0 s, see below).
"""
import ctypes
import os

# Memory of a long-lived worker (measured on the 40,000-HCP world, benchmarks/worker_memory.py):
# pandas' pyarrow strings allocate from mimalloc, which keeps what it frees; the system allocator
# gives it back. Read when pyarrow first allocates, so set before the app is imported.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
# glibc raises its mmap threshold after each large free (up to 32 MB), so the arrays a worker builds
# and drops land in the heap and fragment it; a fixed threshold gives them back to the system when
# freed. Two arenas, not eight per core, for the few gthread threads. (Together with the system pool
# above: 573 -> 497 MB resident per worker.) mallopt is glibc's; elsewhere the defaults stay.
_mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
if _mallopt is not None:
    _mallopt(-3, 1024 * 1024)  # M_MMAP_THRESHOLD
    _mallopt(-8, 2)  # M_ARENA_MAX

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
# Rarely: a (re)started worker spends ~1.5 s of CPU loading the data snapshot and the bundle, then
# builds the target index in the background; at dashboard request rates (70/s) every 1,000
# requests was a restart per worker every half minute, each one slowing every request meanwhile.
max_requests = 20000
max_requests_jitter = 2000
# The master imports the app once (Dash, pages, pandas: about a second of CPU) and forks the
# workers from it. Each worker still loads the service after the fork (webapp.extensions: the
# data snapshot and the numpy-only serving bundle, never Keras or TensorFlow), so a restarted
# worker picks up the current bundle; connections are opened per process (host_state, Redis).
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


def post_worker_init(worker):
    """Load the bundle and data snapshot before the worker takes requests.

    Without this the first request of every (re)started worker waits for the model load;
    a failure here is logged and the service retries lazily on the first request.
    """
    from webapp.extensions import nba

    try:
        worker.log.info("worker %s: serving bundle %s", worker.pid, nba.service.version)
    except Exception:  # keep serving pages that need no model; health shows the problem
        worker.log.exception("worker %s: service warm-up failed", worker.pid)
