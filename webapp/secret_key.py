"""The key that signs session cookies: never a public value.

``SECRET_KEY`` from the environment when set. Otherwise a random key is generated on the host's
first start and kept, owner-only (mode 0600), in ``<VAR_DIR>/secret_key``, so every gunicorn worker
of the host signs and reads the same cookies. With ``NBA_ENV=production`` an explicit key is required.
Changing the key (or deleting the file) signs everybody out: old cookies no longer verify.
"""
from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

KEY_FILE_NAME = "secret_key"
#: Keys this project once shipped as defaults: anyone can sign cookies with them.
PUBLIC_KEYS = frozenset({"dev-only-not-secret"})
#: Shortest explicit key accepted in production (a ``secrets.token_urlsafe(32)`` is 43 characters).
MIN_PRODUCTION_KEY_CHARS = 32
GENERATE_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"


class SecretKeyError(RuntimeError):
    """The configured key is unusable; the message says why and how to fix it."""


def resolve_secret_key(secret_key: str | None, var_dir: Path, production: bool) -> str:
    """The session-signing key to use.

    Parameters
    ----------
    secret_key : the explicit key (env ``SECRET_KEY``), or None.
    var_dir : where a generated key is kept when ``secret_key`` is None.
    production : refuse to run without an explicit, long enough key.

    Raises
    ------
    SecretKeyError
        The key is a known public value; in production, no key or a short one; an existing key
        file readable by other users.
    """
    if secret_key:
        if secret_key in PUBLIC_KEYS:
            raise SecretKeyError(f"SECRET_KEY is a public default value that anyone can sign cookies with; {GENERATE_HINT}")
        if production and len(secret_key) < MIN_PRODUCTION_KEY_CHARS:
            raise SecretKeyError(f"SECRET_KEY must have at least {MIN_PRODUCTION_KEY_CHARS} characters in production "
                                 f"(it has {len(secret_key)}); {GENERATE_HINT}")
        return secret_key
    if production:
        raise SecretKeyError(f"NBA_ENV=production needs an explicit SECRET_KEY, the same on every host "
                             f"(it signs the session cookies); {GENERATE_HINT}")
    return host_secret_key(Path(var_dir) / KEY_FILE_NAME)


def host_secret_key(path: Path) -> str:
    """The key in ``path``, created with a random value if absent (atomically: workers starting
    together all end up with the one key that won the race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _create_exclusively(path, secrets.token_urlsafe(48))
        log.warning("SECRET_KEY is not set: generated a random session key in %s (owner-only). Every worker of "
                    "this host shares it; set SECRET_KEY to share sessions across hosts.", path)
    except FileExistsError:
        log.warning("SECRET_KEY is not set: using this host's generated session key in %s", path)
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretKeyError(f"{path}: the generated session key must be owned by this user and readable by it "
                             f"alone (mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}` or set SECRET_KEY")
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise SecretKeyError(f"{path} is empty; delete it to generate a new key (this signs everybody out)")
    return key


def _create_exclusively(path: Path, key: str) -> None:
    """Write ``key`` to a private temporary file, then hard-link it into place: the link fails when
    the key file exists, and a reader never sees a half-written key."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
