"""gunicorn settings (Procfile: ``web: gunicorn -c gunicorn.conf.py webapp.wsgi:server``).

Environment: PORT (default 8050), WEB_CONCURRENCY (workers, default 2), GUNICORN_THREADS
(default 4), GUNICORN_TIMEOUT (default 60 s), GUNICORN_KEEPALIVE (default 0 s, see below).
"""
import os

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
# Rarely: a (re)started worker spends ~10 s of CPU loading the bundle, the data snapshot and the
# target index, which at dashboard request rates (70/s) every 1,000 requests was a restart per
# worker every half minute, each one slowing every request on the machine meanwhile.
max_requests = 20000
max_requests_jitter = 2000
# Each worker builds its own app and loads the model after the fork: TensorFlow state is
# never shared across a fork, and a worker restart picks up the current bundle.
preload_app = False
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
