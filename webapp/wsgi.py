"""gunicorn entry point: ``gunicorn -c gunicorn.conf.py webapp.wsgi:server``.

Only the app is built at import (once, in the master: ``preload_app = True``); each worker loads
the service (data snapshot and serving bundle) after the fork.
"""
from webapp import create_app

app = create_app()
server = app.server
