"""Who may open which page: the ``roles`` a page declares where it registers.

``dash.register_page(__name__, path="/admin", ..., roles=("admin",))`` is the one declaration.
It is read by the navbar (which links a user sees), the page's own layout guard and callbacks
(:func:`may_open`, :func:`require_page_role`), and the request guard in :mod:`webapp.security`:
a GET of the page and every callback the page's module defines (Dash callback POSTs, admin
actions included) are refused on the server to any other role. A page without ``roles`` is open
to every signed-in user.
"""
from __future__ import annotations

import dash

from webapp.auth import ROLES, User, require_role

#: How a refusal names each role ("Brand managers and admins only").
ROLE_PLURALS = {"admin": "admins", "brand_manager": "brand managers", "msl": "MSLs"}


def page_roles(module: str) -> tuple[str, ...] | None:
    """The roles the page registered by ``module`` (e.g. ``"pages.admin"``) declared; None: every role."""
    page = dash.page_registry.get(module)
    return None if page is None else page.get("roles")


def may_open(module: str, user: User | None) -> bool:
    """Whether ``user`` (None: nobody signed in) may open the page registered by ``module``."""
    roles = page_roles(module)
    return user is not None and (roles is None or user.role in roles)


def require_page_role(module: str) -> User:
    """:func:`webapp.auth.require_role` with the roles of the page registered by ``module`` (callbacks)."""
    return require_role(*(page_roles(module) or ROLES))


def refusal(roles) -> tuple[str, str]:
    """(heading, message) telling a user the page is for ``roles`` only."""
    plurals = [ROLE_PLURALS[r] for r in roles]
    who = plurals[0] if len(plurals) == 1 else ", ".join(plurals[:-1]) + " and " + plurals[-1]
    names = " or ".join(p[:-1] for p in plurals)
    return f"{who[0].upper()}{who[1:]} only", f"This page needs the {names} role."


def match(page: dict, pathname: str) -> dict | None:
    """Path variables when ``pathname`` is this page (templates like ``/hcp/<hcp_id>``), else None."""
    template = page.get("path_template")
    if not template:
        return {} if page["path"].rstrip("/") == pathname.rstrip("/") else None
    want, got = template.strip("/").split("/"), pathname.strip("/").split("/")
    if len(want) != len(got):
        return None
    variables = {}
    for w, g in zip(want, got):
        if w.startswith("<") and w.endswith(">"):
            variables[w[1:-1]] = g
        elif w != g:
            return None
    return variables


def path_roles(pathname: str) -> tuple[str, ...] | None:
    """The declared roles of the page at ``pathname`` (None: no page there, or open to every role)."""
    page = next((p for p in dash.page_registry.values() if match(p, pathname) is not None), None)
    return None if page is None else page.get("roles")


def callback_roles(callback: dict | None) -> tuple[str, ...] | None:
    """The declared roles of the page whose module defines ``callback`` (an entry of ``app.callback_map``)."""
    if callback is None:
        return None
    return page_roles(getattr(callback.get("callback"), "__module__", None))


def check_declarations() -> None:
    """Refuse to start with a page declaring a role that does not exist (a typo would lock it)."""
    for module, page in dash.page_registry.items():
        roles = page.get("roles")
        if roles is None:
            continue
        if isinstance(roles, str) or not roles or set(roles) - set(ROLES):
            raise ValueError(f"page {module} declares roles={roles!r}: expected a tuple of {', '.join(ROLES)}")
