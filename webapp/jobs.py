"""Background jobs (Dash background callbacks): where they run, and the tickets that say who asked.

Without ``REDIS_URL`` a job runs in a process the worker that got the request starts, its progress
and result kept in a diskcache under ``CACHE_DIR/jobs`` (shared by the workers of the machine,
so any of them answers the page's polls). With ``REDIS_URL`` jobs run on a Celery worker, Redis
being broker and result store: start one next to the web workers with
``celery -A webapp.worker:celery_app worker --concurrency 1`` (Procfile ``worker``).

A job runs outside any request, so it cannot ask who is signed in. The request that starts it
signs a ticket (:func:`sign_ticket`: the action and the user, with the app's secret key, valid a
few minutes) and the job accepts only such a ticket (:func:`read_ticket`).
"""
from __future__ import annotations

from flask import Flask, current_app, has_app_context
from itsdangerous import BadSignature, URLSafeTimedSerializer

from engine.config import Settings
from webapp.inputs import InvalidInput

#: A ticket starts its job at once; an older one is refused.
TICKET_MAX_AGE_S = 300
_SALT = "nba-job-ticket"
_servers: list[Flask] = []  # the last app created in this process (jobs may run outside an app context)


def background_manager(settings: Settings):
    """The Dash background-callback manager for these settings (Celery with Redis, else diskcache)."""
    if settings.redis_url:
        from celery import Celery
        from dash import CeleryManager

        return CeleryManager(Celery("nba-jobs", broker=settings.redis_url, backend=settings.redis_url))
    import diskcache
    from dash import DiskcacheManager

    return DiskcacheManager(diskcache.Cache(str(settings.cache_dir / "jobs")))


def init_jobs(server: Flask) -> None:
    """Remember the server whose secret key signs tickets when a job runs outside its app context."""
    _servers[:] = [server]


def _serializer() -> URLSafeTimedSerializer:
    server = current_app._get_current_object() if has_app_context() else (_servers[0] if _servers else None)
    if server is None or not server.secret_key:
        raise RuntimeError("webapp.jobs: no app with a secret key (call create_app first)")
    return URLSafeTimedSerializer(server.secret_key, salt=_SALT)


def sign_ticket(claim: dict) -> str:
    """A ticket for a job: ``claim`` (the action, the user) signed with the app's secret key."""
    return _serializer().dumps(claim)


def read_ticket(ticket, action: str) -> dict:
    """The claim of a ticket this app signed for ``action`` in the last :data:`TICKET_MAX_AGE_S` seconds.

    Raises
    ------
    webapp.inputs.InvalidInput
        Anything else (forged, expired, for another action).
    """
    try:
        claim = _serializer().loads(ticket, max_age=TICKET_MAX_AGE_S) if isinstance(ticket, str) else None
    except BadSignature:
        claim = None
    if not isinstance(claim, dict) or claim.get("action") != action or not isinstance(claim.get("user"), str):
        raise InvalidInput("job ticket", f"not a valid {action} ticket (sign in as an admin and start it again)")
    return claim
