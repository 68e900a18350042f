"""gunicorn entry point: ``gunicorn -c gunicorn.conf.py webapp.wsgi:server``.

Only the app is built at import; each worker loads the model bundle on first use after the
fork (``preload_app = False``), so workers never share TensorFlow state.
"""
from webapp import create_app

app = create_app()
server = app.server
