"""Versioned model bundles: ``<artifacts_dir>/<version>/`` plus the ``<artifacts_dir>/current`` pointer.

A bundle holds components (each saved by its own ``save(dir)`` into ``<version>/<name>/`` and
restored by its classmethod ``load(dir)``) and ``manifest.json`` (version, created,
data_fingerprint, parameters, protocol, metrics, training_curves, components, files with their
sha256). Writing is crash-safe: everything goes into a hidden temporary directory, is checksummed,
validated, renamed into place, and only then does ``current`` move (atomic file replace). A crash
at any point leaves the previous ``current`` untouched.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path

import numpy as np

from engine.config import CHANNELS

MANIFEST = "manifest.json"
CURRENT = "current"
VERSION_PATTERN = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED = ("version", "created", "components", "files")


class BundleError(RuntimeError):
    """A bundle is missing, incomplete or invalid; the message names the bundle and the problem."""


def new_version(now: dt.datetime | None = None) -> str:
    """``YYYYMMDD-HHMMSS-<6 hex>`` (UTC): sorts by creation time, unique across parallel writers."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checksums(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): _sha256(p)
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != MANIFEST}


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"manifest: value of type {type(value).__name__} is not JSON-serialisable")


def _class_path(obj) -> str:
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_class(path: str):
    module, _, name = path.partition(":")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def write_bundle(artifacts_dir, components: dict, manifest_extra: dict | None = None,
                 make_current: bool = True, version: str | None = None) -> str:
    """Write a bundle and (by default) point ``current`` at it; return its version.

    Parameters
    ----------
    artifacts_dir : the directory holding every bundle.
    components : ``{name: object}``; each object has ``save(dir)`` and a classmethod ``load(dir)``.
        Names are lower-case identifiers (``scorer``, ``forecaster``, ``topics`` ...).
    manifest_extra : ``data_fingerprint``, ``parameters``, ``protocol``, ``metrics``,
        ``training_curves`` and any other JSON-able keys.
    make_current : move ``current`` to the new bundle once it is complete and valid.

    Raises
    ------
    BundleError
        When a component cannot be saved or the written bundle does not validate; the previous
        ``current`` is left as it was and no partial bundle stays behind.
    """
    artifacts_dir = Path(artifacts_dir)
    extra = dict(manifest_extra or {})
    clash = [key for key in _RESERVED if key in extra]
    if clash:
        raise BundleError(f"manifest_extra must not set {clash}: write_bundle fills them in")
    if not components:
        raise BundleError("write_bundle: no components to write")
    for name in components:
        if not _NAME_PATTERN.match(name):
            raise BundleError(f"component name {name!r} must be a lower-case identifier")
    version = version or new_version()
    if not VERSION_PATTERN.match(version):
        raise BundleError(f"version {version!r} does not match YYYYMMDD-HHMMSS-xxxxxx")
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    final = artifacts_dir / version
    if final.exists():
        raise BundleError(f"bundle {version} already exists in {artifacts_dir}")
    temp = artifacts_dir / f".tmp-{version}"
    try:
        temp.mkdir()
        for name, component in components.items():
            (temp / name).mkdir()
            try:
                component.save(temp / name)
            except Exception as exc:
                raise BundleError(f"bundle {version}: component {name!r} failed to save: "
                                  f"{type(exc).__name__}: {exc}") from exc
        manifest = {"version": version,
                    "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds"),
                    "data_fingerprint": None, "parameters": {}, "protocol": None, "metrics": {},
                    "training_curves": {}, **extra,
                    "components": {name: {"class": _class_path(obj), "path": name} for name, obj in components.items()},
                    "files": _checksums(temp)}
        (temp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default))
        problems = validate_bundle(temp)
        if problems:
            raise BundleError(f"bundle {version} is invalid: " + "; ".join(problems))
        os.replace(temp, final)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    if make_current:
        _write_pointer(artifacts_dir, version)
    return version


def _write_pointer(artifacts_dir: Path, version: str) -> None:
    temp = artifacts_dir / f".{CURRENT}.{os.getpid()}.{secrets.token_hex(3)}"
    temp.write_text(version + "\n")
    os.replace(temp, artifacts_dir / CURRENT)  # atomic: readers see the old or the new version


def list_versions(artifacts_dir) -> list[str]:
    """Versions present (directories with a manifest), oldest first."""
    root = Path(artifacts_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and VERSION_PATTERN.match(p.name) and (p / MANIFEST).is_file()]

    def created(path: Path) -> str:
        # The name sorts to the second; the manifest's microseconds order bundles written within one.
        try:
            return str(json.loads((path / MANIFEST).read_text()).get("created", ""))
        except (OSError, json.JSONDecodeError):
            return ""

    return [p.name for p in sorted(found, key=lambda p: (p.name[:15], created(p), p.name))]


def current_version(artifacts_dir) -> str | None:
    """The version ``current`` points at, or ``None`` when there is no pointer yet."""
    pointer = Path(artifacts_dir) / CURRENT
    if not pointer.is_file():
        return None
    return pointer.read_text().strip() or None


def read_manifest(artifacts_dir, version: str) -> dict:
    """A bundle's manifest without loading its components (raises :class:`BundleError`)."""
    path = Path(artifacts_dir) / version / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"bundle {version}: {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"bundle {version}: {path} is not valid JSON ({exc})") from None


def set_current(artifacts_dir, version: str) -> None:
    """Point ``current`` at ``version`` after validating it (raises :class:`BundleError` if invalid)."""
    artifacts_dir = Path(artifacts_dir)
    path = artifacts_dir / version
    if not VERSION_PATTERN.match(version) or not path.is_dir():
        known = ", ".join(list_versions(artifacts_dir)) or "none"
        raise BundleError(f"bundle {version!r} not found in {artifacts_dir} (versions: {known})")
    problems = validate_bundle(path)
    if problems:
        raise BundleError(f"bundle {version} is invalid: " + "; ".join(problems))
    _write_pointer(artifacts_dir, version)


def _smoke_problems(scorer) -> list[str]:
    """``scorer.score(0)`` must give finite scores and probabilities of the catalogue's shape."""
    try:
        scores = scorer.score(0)
    except Exception as exc:
        return [f"smoke prediction scorer.score(0) failed: {type(exc).__name__}: {exc}"]
    content_ids = getattr(scorer, "content_ids", None)
    n_contents = len(content_ids) if content_ids is not None else None
    score = np.asarray(getattr(scores, "score", None), dtype=float)
    engagement = np.asarray(getattr(scores, "engagement", None), dtype=float)
    problems = []
    if score.ndim != 1 or (n_contents and score.shape[0] != n_contents):
        problems.append(f"smoke prediction: score has shape {score.shape}, expected ({n_contents},)")
    elif not np.isfinite(score).all():
        problems.append("smoke prediction: score has non-finite values")
    if engagement.ndim != 2 or engagement.shape[1] != len(CHANNELS) or engagement.shape[0] != score.shape[0]:
        problems.append(f"smoke prediction: engagement has shape {engagement.shape}, "
                        f"expected ({score.shape[0] if score.ndim else '?'}, {len(CHANNELS)})")
    elif not (np.isfinite(engagement).all() and (engagement >= 0).all() and (engagement <= 1).all()):
        problems.append("smoke prediction: engagement probabilities are not all in [0, 1]")
    return problems


def _inspect(path: Path) -> tuple[list[str], dict, dict]:
    """(problems, manifest, loaded components) of the bundle at ``path``."""
    if not path.is_dir():
        return [f"{path} is not a directory"], {}, {}
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        return [f"{MANIFEST} is missing"], {}, {}
    except json.JSONDecodeError as exc:
        return [f"{MANIFEST} is not valid JSON ({exc})"], {}, {}
    problems = [f"{MANIFEST} lacks '{key}'" for key in ("version", "components", "files") if key not in manifest]
    if problems:
        return problems, manifest, {}
    expected = manifest["files"]
    actual = _checksums(path)
    problems += [f"file {name} is missing" for name in expected if name not in actual]
    problems += [f"file {name} was modified (sha256 mismatch)"
                 for name in expected if name in actual and actual[name] != expected[name]]
    problems += [f"file {name} is not listed in the manifest" for name in actual if name not in expected]
    if problems:
        return problems, manifest, {}
    components = {}
    for name, spec in manifest["components"].items():
        try:
            cls = _import_class(spec["class"])
            components[name] = cls.load(path / spec.get("path", name))
        except Exception as exc:
            problems.append(f"component {name!r} ({spec.get('class')}) failed to load: {type(exc).__name__}: {exc}")
    if "scorer" in components:
        problems += _smoke_problems(components["scorer"])
    return problems, manifest, components


def validate_bundle(path) -> list[str]:
    """Problems of the bundle directory ``path`` (empty list = valid).

    Checks the manifest, every file's sha256 (missing, modified or unlisted files), that every
    component loads, and a smoke prediction ``scorer.score(0)`` when the bundle has a scorer.
    """
    return _inspect(Path(path))[0]


class Bundle:
    """A loaded, validated bundle: ``version``, ``path``, ``manifest``, ``metrics``, ``components``."""

    def __init__(self, path: Path, manifest: dict, components: dict):
        self.path = path
        self.manifest = manifest
        self.components = components
        self.version = manifest["version"]

    @property
    def metrics(self) -> dict:
        return self.manifest.get("metrics") or {}

    @property
    def protocol(self) -> str | None:
        return self.manifest.get("protocol")

    def _component(self, name: str):
        if name not in self.components:
            raise BundleError(f"bundle {self.version} has no {name!r} component "
                              f"(components: {', '.join(self.components) or 'none'})")
        return self.components[name]

    @property
    def scorer(self):
        return self._component("scorer")

    @property
    def forecaster(self):
        return self._component("forecaster")

    @property
    def topics(self):
        return self._component("topics")

    @property
    def explorer(self) -> dict:
        """The topic explorer data (a saved ``explorer`` component, else computed from ``topics``)."""
        if "explorer" in self.components:
            return self.components["explorer"]
        if not hasattr(self, "_explorer"):
            self._explorer = self.topics.explorer_data()
        return self._explorer

    @property
    def content_ids(self) -> np.ndarray:
        return np.asarray(self.scorer.content_ids)

    @property
    def hcp_ids(self) -> np.ndarray:
        return np.asarray(self.scorer.hcp_ids)

    def naive_score_one(self, hcp_idx: int):
        return self.scorer.naive_score_one(hcp_idx)

    def __repr__(self) -> str:
        return f"Bundle(version={self.version!r}, components={list(self.components)})"


def load_bundle(artifacts_dir, version: str | None = None) -> Bundle:
    """Validate and load a bundle (``version=None``: the current one).

    Raises
    ------
    BundleError
        No current bundle, unknown version, or an invalid bundle (the message lists the problems).
    """
    artifacts_dir = Path(artifacts_dir)
    if version is None:
        version = current_version(artifacts_dir)
        if version is None:
            raise BundleError(f"no current bundle in {artifacts_dir}: run `python -m engine train` first")
    path = artifacts_dir / version
    if not path.is_dir():
        known = ", ".join(list_versions(artifacts_dir)) or "none"
        raise BundleError(f"bundle {version!r} not found in {artifacts_dir} (versions: {known})")
    problems, manifest, components = _inspect(path)
    if not problems and manifest.get("version") != version:
        problems.append(f"manifest says version {manifest.get('version')!r}")
    if problems:
        raise BundleError(f"bundle {version} is invalid: " + "; ".join(problems))
    return Bundle(path, manifest, components)
