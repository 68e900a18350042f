"""Flask extensions of the web app, bound to a server with ``init_app`` (app-factory style).

``nba`` gives every callback and layout function the process's :class:`engine.service.NBAService`.
The service is created lazily on first use (a development server, tests), or by :meth:`NBAExtension.preload`
in gunicorn's master before it forks the workers (gunicorn.conf.py), so that every worker starts
with it loaded and warmed, in memory pages it shares with the master until it writes to them.
"""
from __future__ import annotations

import threading

from flask import Flask, current_app, has_app_context

from engine.config import Settings


class _NBAState:
    """Per-app state: the settings and the (lazily created) service."""

    def __init__(self, settings: Settings, service=None):
        self.settings = settings
        self._service = service
        self._lock = threading.Lock()

    @property
    def service(self):
        return self._service if self._service is not None else self._create(before_fork=False)

    def preload(self) -> None:
        """Create the service and warm it now, in this thread; then stop its background readers, so
        that no thread runs when the process forks (each child starts its own on first use)."""
        self._create(before_fork=True)

    def _create(self, before_fork: bool):
        with self._lock:  # gthread workers: only one thread loads the bundle
            if self._service is None:
                from engine.service import NBAService

                service = NBAService.from_settings(self.settings)
                if before_fork:
                    try:
                        service.warm()
                    finally:
                        service.close()
                else:  # the target index takes seconds on a full-size world: built off the request path
                    threading.Thread(target=service.warm, name="nba-warm-up", daemon=True).start()
                self._service = service
        return self._service


class NBAExtension:
    """Holds the NBA service of the current Flask app.

    Examples
    --------
    >>> nba.init_app(server, settings)            # in create_app
    >>> nba.service.recommend("1234567893")       # in a callback or layout function
    """

    def __init__(self):
        self._last_state: _NBAState | None = None

    def init_app(self, server: Flask, settings: Settings, service=None) -> None:
        """Bind to ``server``; ``service`` lets tests inject a ready (or fake) service."""
        state = _NBAState(settings, service)
        server.extensions["nba"] = state
        self._last_state = state

    def _state(self) -> _NBAState:
        if has_app_context() and "nba" in current_app.extensions:
            return current_app.extensions["nba"]
        if self._last_state is None:
            raise RuntimeError("webapp.extensions.nba is not bound: call create_app() first")
        # Outside a request (e.g. a background thread): the most recently created app.
        return self._last_state

    @property
    def service(self):
        """This process's ``NBAService`` (created on first access, thread-safe)."""
        return self._state().service

    def preload(self) -> None:
        """Create and warm the service of the most recently created app now, leaving no thread running:
        in a process about to fork the workers that serve it (gunicorn's master)."""
        self._state().preload()

    @property
    def settings(self) -> Settings:
        return self._state().settings


nba = NBAExtension()
