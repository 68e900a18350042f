"""Versioned model bundles: ``<artifacts_dir>/<version>/`` plus the ``<artifacts_dir>/current`` pointer.

A bundle holds components (each saved by its own ``save(dir)`` into ``<version>/<name>/`` and
restored by its classmethod ``load(dir)``) and ``manifest.json`` (version, created,
data_fingerprint, parameters, protocol, metrics, training_curves, components, files with their
sha256). Writing is crash-safe: everything goes into a hidden temporary directory, is checksummed,
validated, renamed into place, and only then does ``current`` move (atomic file replace). A crash
at any point leaves the previous ``current`` untouched.

The manifest's ``serving`` lists the components a web worker loads (:func:`load_serving_bundle`):
the numpy scorer, the forecaster's LSTM weights and the topic data, read as JSON and ``.npy``
without Keras, TensorFlow or gensim. The Keras models and the recorded training data are for
``evaluate`` only. A bundle written before the list existed is served from
:data:`LEGACY_SERVING`, the components the pipeline has always written for serving.

A bundle carries data, never code:

- a version is a name of :data:`VERSION_PATTERN` inside ``artifacts_dir`` (:func:`bundle_dir`),
  never a path, and its manifest must name the same version;
- component classes come from :data:`COMPONENT_CLASSES` in the code; the manifest only picks one;
- files are JSON, numpy ``.npy``/``.npz`` (read with ``allow_pickle=False``), Keras
  ``.weights.h5`` and Parquet (:data:`ALLOWED_SUFFIXES`); symbolic links are refused;
- with a signing key (``BUNDLE_SIGNING_KEY``), ``manifest.sig`` holds the HMAC-SHA256 of the
  manifest, and a bundle whose signature is missing or wrong is refused. The manifest lists
  every file's sha256, so the signature covers the whole bundle.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
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
SIGNATURE = "manifest.sig"
CURRENT = "current"
#: ``\Z``, not ``$``: ``$`` also matches before a trailing newline
VERSION_PATTERN = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}\Z")
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\Z")
_RESERVED = ("version", "created", "components", "files", "serving")
#: The serving components of a bundle whose manifest has no ``serving`` list (written before it
#: existed): the numpy scorer, the forecaster and the topic model, which load without Keras.
LEGACY_SERVING = ("scorer", "forecaster", "topics")

#: The classes a bundle may hold, by the name its manifest gives (``module:Class``). The manifest
#: only picks from this list, it never decides what is imported. Entries are imported on first
#: use (Keras loads with the first model, not with this module); see :func:`allow_component_class`.
COMPONENT_CLASSES: dict[str, type | None] = dict.fromkeys((
    "engine.models.scorer:HybridScorer",
    "engine.models.sequence:JourneyForecaster",
    "engine.models.sequence:SequenceModel",
    "engine.models.collaborative:CollaborativeFilter",
    "engine.models.hybrid:HybridModel",
    "engine.topics.model:TopicModel",
    "engine.models.data:RecordedFrames",
))

#: The only file types a bundle may contain: data formats that cannot carry code.
ALLOWED_SUFFIXES = (".json", ".npy", ".npz", ".weights.h5", ".parquet")


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
    files = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}
    return {name: _sha256(p) for name, p in files.items() if name not in (MANIFEST, SIGNATURE)}


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"manifest: value of type {type(value).__name__} is not JSON-serialisable")


def _class_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def allow_component_class(cls: type) -> type:
    """Add ``cls`` to :data:`COMPONENT_CLASSES` (a class decorator, for components defined
    outside ``engine``, e.g. test doubles). Code decides what a bundle may hold, never a manifest."""
    COMPONENT_CLASSES[_class_name(cls)] = cls
    return cls


def allowed_class_name(name) -> str:
    """``name`` when it names an allowed component class (raises :class:`BundleError` otherwise);
    nothing is imported."""
    if not isinstance(name, str) or name not in COMPONENT_CLASSES:
        raise BundleError(f"class {str(name)[:200]!r} is not an allowed component class "
                          f"(allowed: {', '.join(sorted(COMPONENT_CLASSES))})")
    return name


def component_class(name) -> type:
    """The allowed class a manifest names (raises :class:`BundleError` for any other name)."""
    cls = COMPONENT_CLASSES[allowed_class_name(name)]
    if cls is None:  # one of the engine's own classes, imported by the name fixed above
        module, _, qualname = name.partition(":")
        cls = COMPONENT_CLASSES[name] = getattr(importlib.import_module(module), qualname)
    return cls


def signing_key(explicit: str | None = None) -> str | None:
    """The bundle-signing key: ``explicit``, else ``BUNDLE_SIGNING_KEY`` (via :class:`Settings`);
    ``None`` when signing is off."""
    if explicit is None:
        from engine.config import Settings

        explicit = Settings.from_env().bundle_signing_key
    return explicit or None


def _signature(manifest_bytes: bytes, key: str) -> str:
    return hmac.new(key.encode("utf-8"), manifest_bytes, hashlib.sha256).hexdigest()


def bundle_dir(artifacts_dir, version) -> Path:
    """The folder of bundle ``version``; the one check of every version a caller passes in.

    Raises
    ------
    BundleError
        ``version`` is not a name of :data:`VERSION_PATTERN` (an absolute path, ``../..``), no
        such bundle exists, or its folder is a symbolic link or resolves outside ``artifacts_dir``.
    """
    root = Path(artifacts_dir)
    if not isinstance(version, str) or not VERSION_PATTERN.match(version):
        raise BundleError(f"bundle version {str(version)[:200]!r} refused: a version is a name "
                          f"YYYYMMDD-HHMMSS-xxxxxx inside {root}, never a path")
    path = root / version
    if not path.is_dir():
        known = ", ".join(list_versions(root)) or "none"
        raise BundleError(f"bundle {version!r} not found in {root} (versions: {known})")
    if path.is_symlink() or path.resolve().parent != root.resolve():
        raise BundleError(f"bundle {version}: {path} is a symbolic link or resolves outside {root}")
    return path


def write_bundle(artifacts_dir, components: dict, manifest_extra: dict | None = None,
                 make_current: bool = True, version: str | None = None, key: str | None = None,
                 serving=None) -> str:
    """Write a bundle and (by default) point ``current`` at it; return its version.

    Parameters
    ----------
    artifacts_dir : the directory holding every bundle.
    components : ``{name: object}``; each object has ``save(dir)`` and a classmethod ``load(dir)``.
        Names are lower-case identifiers (``scorer``, ``forecaster``, ``topics`` ...).
    manifest_extra : ``data_fingerprint``, ``parameters``, ``protocol``, ``metrics``,
        ``training_curves`` and any other JSON-able keys.
    make_current : move ``current`` to the new bundle once it is complete and valid.
    key : the signing key (default: :func:`signing_key`); when set, ``manifest.sig`` is written.
    serving : names of the components a web worker loads (the manifest's ``serving``; default:
        every component). They must load with numpy and JSON alone: the web workers never import
        Keras or TensorFlow.

    Raises
    ------
    BundleError
        When a component's class is not in :data:`COMPONENT_CLASSES`, a component cannot be
        saved or the written bundle does not validate; the previous ``current`` is left as it
        was and no partial bundle stays behind.
    """
    artifacts_dir = Path(artifacts_dir)
    extra = dict(manifest_extra or {})
    clash = [name for name in _RESERVED if name in extra]
    if clash:
        raise BundleError(f"manifest_extra must not set {clash}: write_bundle fills them in")
    if not components:
        raise BundleError("write_bundle: no components to write")
    serving = list(components if serving is None else serving)
    unknown = [name for name in serving if name not in components]
    if unknown:
        raise BundleError(f"write_bundle: serving names {unknown}, which are not components "
                          f"({', '.join(components)})")
    for name, component in components.items():
        if not _NAME_PATTERN.match(name):
            raise BundleError(f"component name {name!r} must be a lower-case identifier")
        try:
            component_class(_class_name(type(component)))
        except BundleError as exc:
            raise BundleError(f"component {name!r}: {exc}") from None
    key = signing_key(key)
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
                    "components": {name: {"class": _class_name(type(obj)), "path": name}
                                   for name, obj in components.items()},
                    "serving": serving,
                    "files": _checksums(temp)}
        text = json.dumps(manifest, indent=2, default=_json_default).encode("utf-8")
        (temp / MANIFEST).write_bytes(text)
        if key:
            (temp / SIGNATURE).write_text(_signature(text, key) + "\n")
        problems = validate_bundle(temp, key=key or "")
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
    """Versions present (directories, not links, with a manifest), oldest first."""
    root = Path(artifacts_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir()
             if p.is_dir() and not p.is_symlink() and VERSION_PATTERN.match(p.name) and (p / MANIFEST).is_file()]

    def created(path: Path) -> str:
        # The name sorts to the second; the manifest's microseconds order bundles written within one.
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError):
            return ""
        return str(manifest.get("created", "")) if isinstance(manifest, dict) else ""

    return [p.name for p in sorted(found, key=lambda p: (p.name[:15], created(p), p.name))]


def current_version(artifacts_dir) -> str | None:
    """The version ``current`` points at, or ``None`` when there is no pointer yet."""
    pointer = Path(artifacts_dir) / CURRENT
    if not pointer.is_file():
        return None
    return pointer.read_text().strip() or None


def read_manifest(artifacts_dir, version: str) -> dict:
    """A bundle's manifest without loading its components (raises :class:`BundleError`)."""
    path = bundle_dir(artifacts_dir, version) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"bundle {version}: {path} does not exist") from None
    except ValueError as exc:
        raise BundleError(f"bundle {version}: {path} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"bundle {version}: {path} is not a JSON object")
    return manifest


def set_current(artifacts_dir, version: str, key: str | None = None) -> None:
    """Point ``current`` at ``version`` after validating it (raises :class:`BundleError` if invalid).

    ``key``: the signing key (default: :func:`signing_key`).
    """
    problems = validate_bundle(bundle_dir(artifacts_dir, version), key=key)
    if problems:
        raise BundleError(f"bundle {version} is invalid: " + "; ".join(problems))
    _write_pointer(Path(artifacts_dir), version)


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


def _signature_problems(path: Path, manifest_bytes: bytes, key: str | None) -> list[str]:
    if not key:
        return []
    try:
        given = (path / SIGNATURE).read_text().strip()
    except FileNotFoundError:
        return [f"{SIGNATURE} is missing: bundles must be signed while BUNDLE_SIGNING_KEY is set"]
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{SIGNATURE} is unreadable ({exc})"]
    if not hmac.compare_digest(given, _signature(manifest_bytes, key)):
        return [f"{SIGNATURE} does not match {MANIFEST} (changed after signing, or signed with another key)"]
    return []


def _file_problems(path: Path, manifest: dict) -> list[str]:
    """Links, file types and sha256 of every file against the manifest's list."""
    links = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_symlink())
    if links:
        return [f"{name} is a symbolic link (refused)" for name in links]
    expected = manifest["files"]
    if not isinstance(expected, dict):
        return [f"{MANIFEST}: 'files' is not an object"]
    actual = _checksums(path)
    problems = [f"file {name} is not an allowed type (allowed: {', '.join(ALLOWED_SUFFIXES)})"
                for name in sorted(set(expected) | set(actual)) if not str(name).endswith(ALLOWED_SUFFIXES)]
    problems += [f"file {name} is missing" for name in expected if name not in actual]
    problems += [f"file {name} was modified (sha256 mismatch)"
                 for name in expected if name in actual and actual[name] != expected[name]]
    problems += [f"file {name} is not listed in the manifest" for name in actual if name not in expected]
    return problems


def _component_specs(manifest: dict) -> tuple[list[str], dict[str, str]]:
    """(problems, {name: allowed class name}) of the manifest's components; nothing is imported (a
    web worker imports the classes of its serving components only: not scipy with the CF model)."""
    specs = manifest["components"]
    if not isinstance(specs, dict):
        return [f"{MANIFEST}: 'components' is not an object"], {}
    problems, classes = [], {}
    for name, spec in specs.items():
        if not _NAME_PATTERN.match(str(name)) or not isinstance(spec, dict) or spec.get("path", name) != name:
            problems.append(f"component {str(name)[:100]!r}: a component is a lower-case name stored in "
                            f"the folder of that name")
            continue
        try:
            classes[name] = allowed_class_name(spec.get("class"))
        except BundleError as exc:
            problems.append(f"component {name!r}: {exc}")
    return problems, classes


def serving_components(manifest: dict) -> list[str]:
    """The names of the components a web worker loads: the manifest's ``serving`` list, or for a
    bundle written before it existed those of :data:`LEGACY_SERVING` it has."""
    if "serving" in manifest:
        return manifest["serving"]
    return [name for name in LEGACY_SERVING if name in manifest["components"]]


def _serving_problems(manifest: dict) -> list[str]:
    serving = serving_components(manifest)
    if not isinstance(serving, list) or not all(isinstance(name, str) for name in serving):
        return [f"{MANIFEST}: 'serving' is not a list of component names"]
    return [f"serving component {name[:100]!r} is not a component of the bundle"
            for name in serving if name not in manifest["components"]]


def _inspect(path: Path, key: str | None, version: str | None = None,
             serving_only: bool = False) -> tuple[list[str], dict, dict]:
    """(problems, manifest, loaded components) of the bundle at ``path``.

    ``version``: the version the manifest must give. Components are loaded only once the
    signature, the manifest and every file check out; ``serving_only``: only the serving ones
    (:func:`serving_components`), every file is checked all the same.
    """
    if not path.is_dir():
        return [f"{path} is not a directory"], {}, {}
    try:
        raw = (path / MANIFEST).read_bytes()
    except FileNotFoundError:
        return [f"{MANIFEST} is missing"], {}, {}
    problems = _signature_problems(path, raw, signing_key(key))
    if problems:
        return problems, {}, {}
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        return [f"{MANIFEST} is not valid JSON ({exc})"], {}, {}
    if not isinstance(manifest, dict):
        return [f"{MANIFEST} is not a JSON object"], {}, {}
    problems = [f"{MANIFEST} lacks '{name}'" for name in ("version", "components", "files") if name not in manifest]
    if problems:
        return problems, manifest, {}
    if version is not None and manifest["version"] != version:
        return [f"manifest says version {str(manifest['version'])[:100]!r}, "
                f"but the bundle's folder is {version!r}"], manifest, {}
    problems = _file_problems(path, manifest)
    spec_problems, classes = _component_specs(manifest)
    problems += spec_problems
    if not spec_problems:
        problems += _serving_problems(manifest)
    if problems:
        return problems, manifest, {}
    if serving_only:
        classes = {name: classes[name] for name in serving_components(manifest)}
    components = {}
    for name, class_name in classes.items():
        try:
            components[name] = component_class(class_name).load(path / name)
        except Exception as exc:
            problems.append(f"component {name!r} ({class_name}) failed to load: {type(exc).__name__}: {exc}")
    if "scorer" in components:
        problems += _smoke_problems(components["scorer"])
    return problems, manifest, components


def validate_bundle(path, key: str | None = None) -> list[str]:
    """Problems of the bundle directory ``path`` (empty list = valid).

    Checks the signature (when a signing key is set: ``key``, default :func:`signing_key`), the
    manifest (and, when the folder's name is a version, that the manifest gives the same one),
    links and file types, every file's sha256 (missing, modified or unlisted files), that every
    component's class is allowed and loads, that the serving components are components, and a
    smoke prediction ``scorer.score(0)`` when the bundle has a scorer.
    """
    path = Path(path)
    return _inspect(path, key, path.name if VERSION_PATTERN.match(path.name) else None)[0]


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
        """The topic explorer data of the ``topics`` component (computed once)."""
        if not hasattr(self, "_explorer"):
            self._explorer = self.topics.explorer_data()
        return self._explorer

    @property
    def content_ids(self) -> np.ndarray:
        return np.asarray(self.scorer.content_ids)

    @property
    def hcp_ids(self) -> np.ndarray:
        return np.asarray(self.scorer.hcp_ids)

    def __repr__(self) -> str:
        return f"Bundle(version={self.version!r}, components={list(self.components)})"


def load_bundle(artifacts_dir, version: str | None = None, key: str | None = None) -> Bundle:
    """Validate and load a bundle (``version=None``: the current one).

    ``key``: the signing key (default: :func:`signing_key`).

    Raises
    ------
    BundleError
        No current bundle, a version that is not a bundle name of ``artifacts_dir``, or an
        invalid bundle (the message lists the problems).
    """
    return _load(artifacts_dir, version, key, serving_only=False)


def load_serving_bundle(artifacts_dir, version: str | None = None, key: str | None = None) -> Bundle:
    """What a web worker loads: the bundle validated as by :func:`load_bundle` (signature, manifest,
    every file's sha256, allowed classes) with only its serving components loaded and smoke-tested
    (:func:`serving_components`: numpy and JSON, no Keras). Raises :class:`BundleError`."""
    return _load(artifacts_dir, version, key, serving_only=True)


def _load(artifacts_dir, version: str | None, key: str | None, serving_only: bool) -> Bundle:
    if version is None:
        version = current_version(artifacts_dir)
        if version is None:
            raise BundleError(f"no current bundle in {artifacts_dir}: run `python -m engine train` first")
    path = bundle_dir(artifacts_dir, version)
    problems, manifest, components = _inspect(path, key, version, serving_only)
    if problems:
        raise BundleError(f"bundle {version} is invalid: " + "; ".join(problems))
    return Bundle(path, manifest, components)
