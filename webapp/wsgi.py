"""gunicorn entry point: ``gunicorn -c gunicorn.conf.py webapp.wsgi:server``.

The app is built at import, once, in gunicorn's master (``preload_app = True``), which then loads
the service (data snapshot and serving bundle) before it forks the workers (gunicorn.conf.py).
"""
from webapp import create_app

app = create_app()
server = app.server
