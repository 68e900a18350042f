"""Celery worker entry point for background jobs when ``REDIS_URL`` is set (see :mod:`webapp.jobs`):
``celery -A webapp.worker:celery_app worker --concurrency 1``.

Building the app registers every background callback as a Celery task, which is what the worker runs.
Without ``REDIS_URL`` jobs run beside the web workers and no worker is needed.
"""
from webapp import create_app

app = create_app()
celery_app = getattr(app._background_manager, "handle", None)
if not hasattr(celery_app, "worker_main"):
    raise SystemExit("webapp.worker: REDIS_URL is not set, so background jobs run beside the web workers; "
                     "no Celery worker is needed")
