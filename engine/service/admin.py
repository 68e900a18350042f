"""Admin operations: reload and rollback of bundles, the audit log, versions, health, cache status.

Every admin action is checked server-side (``role == "admin"``) before anything is written, and
audited whether it succeeds or not.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field

import pandas as pd

from engine.config import Settings
from engine.data.store import Store, StoreError
from engine.service.cache import ServiceCache
from engine.service.follower import LiveState
from engine.service.state import bundles, iso, live_versions, optional_component

log = logging.getLogger("engine.service")


def _require_admin(role, user, action: str) -> None:
    if role != "admin":
        raise PermissionError(f"{action} needs the admin role (user {user!r} has role {role!r})")


@dataclass(eq=False)
class Admin:
    """Bundle versions (reload, rollback, listing, metrics), the audit log and the process's health."""

    settings: Settings
    state: LiveState
    store: Store
    cache: ServiceCache
    _started: float = field(default_factory=time.time, init=False)
    # one reload or rollback at a time in this process
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def _append_with_id(self, table: str, id_column: str, row: dict) -> None:
        # next_id then insert: a concurrent writer in another process may take the same id first
        # (primary key violation, rolled back), so try again with a fresh id
        for attempt in range(10):
            try:
                self.store.append(table, pd.DataFrame([{id_column: self.store.next_id(table, id_column), **row}]))
                return
            except StoreError:
                if attempt == 9:
                    raise
                time.sleep(0.01 * (attempt + 1))

    def _audit(self, user, action: str, from_version, to_version, result: str, detail: str | None = None) -> None:
        self._append_with_id("audit_log", "audit_id", {
            "at": pd.Timestamp.now(tz="UTC").tz_localize(None), "user_name": user, "action": action,
            "from_version": from_version, "to_version": to_version, "result": result[:500], "detail": detail,
        })

    def record_admin_action(self, user: str | None, role: str | None, action: str, to_version: str | None,
                            result: str, detail: str | None = None) -> None:
        """Audit an admin action done outside this service (a retrain from the Admin page); admin only.

        Raises
        ------
        PermissionError : ``role`` is not ``"admin"`` (nothing is written).
        """
        _require_admin(role, user, action)
        self._audit(user, action, self.state.shared_version(), to_version, result, detail)

    def audit_log(self, limit: int = 100) -> list[dict]:
        frame = self.store.query('SELECT audit_id, "at", user_name, action, from_version, to_version, result, detail '
                                 'FROM audit_log ORDER BY "at" DESC, audit_id DESC LIMIT ?', [int(limit)])
        return [{k: (iso(v) if k == "at" else (None if v is None or (isinstance(v, float) and math.isnan(v))
                                                   else (int(v) if k == "audit_id" else str(v))))
                 for k, v in r.items()} for r in frame.to_dict("records")]

    def reload(self, version: str | None = None, user: str | None = None, role: str | None = None) -> dict:
        """Load, validate and switch to ``version`` (None: the artifacts' ``current``); admin only.

        The new bundle is fully loaded and smoke-tested before the switch, which is one reference
        assignment; a failed load leaves the old version serving. Every call is audited.

        Raises
        ------
        PermissionError : ``role`` is not ``"admin"`` (nothing is written).
        """
        _require_admin(role, user, "reload")
        target = version or bundles().current_version(self.settings.artifacts_dir)
        return self._switch("reload", lambda _shared: (target, "no bundle to load"), user)

    def rollback(self, user: str | None = None, role: str | None = None) -> dict:
        """Switch to the newest version older than the one every worker serves (the shared pointer,
        read now: this worker may not have followed a reload done elsewhere yet); admin only
        (see :meth:`reload`)."""
        _require_admin(role, user, "rollback")

        def older_than_shared(current):
            older = [v for v in sorted(bundles().list_versions(self.settings.artifacts_dir))
                     if current is None or v < current]
            return older[-1] if older else None, f"no version older than {current}"

        return self._switch("rollback", older_than_shared, user)

    def _switch(self, action: str, choose, user) -> dict:
        """Switch to the version ``choose(shared version)`` names (``(version or None, why none)``);
        decided, and audited as ``from``, with the shared version."""
        with self._lock:
            old = self.state.shared_version()
            target, missing = choose(old)
            if not target:
                result = f"refused: {missing}"
                self._audit(user, action, old, None, result)
                return {"ok": False, "action": action, "from": old, "to": None, "version": old, "result": result}
            try:
                new = self.state.switch(target)
            except Exception as exc:  # noqa: BLE001 - any failure refuses the switch
                result = f"refused: {type(exc).__name__}: {exc}"
                log.error("%s to %s %s", action, target, result)
                self._audit(user, action, old, target, result)
                return {"ok": False, "action": action, "from": old, "to": target, "version": old, "result": result}
            self._audit(user, action, old, new.version, "ok")
            log.info("%s by %s: %s -> %s", action, user, old, new.version)
            return {"ok": True, "action": action, "from": old, "to": new.version, "version": new.version,
                    "result": "ok"}

    def model_metrics(self) -> dict:
        """Manifest of the serving bundle: metrics, training curves, topic sweep, parameters."""
        serving = self.state.current().serving
        manifest = serving.bundle.manifest or {}
        topics = optional_component(serving.bundle, "topics")
        sweep = manifest.get("topic_sweep") or getattr(topics, "sweep_", None) or []
        return {
            "version": serving.version, "created": manifest.get("created"), "protocol": manifest.get("protocol"),
            "metrics": manifest.get("metrics") or {}, "training_curves": manifest.get("training_curves") or {},
            "topic_sweep": sweep, "parameters": manifest.get("parameters") or {},
            "data_fingerprint": manifest.get("data_fingerprint"),
        }

    def versions(self) -> list[dict]:
        """Every bundle, newest first: version, created, metrics summary, current, serving, loadable."""
        artifacts = bundles()
        current = artifacts.current_version(self.settings.artifacts_dir)
        serving = self.state.version
        rows = []
        for version in sorted(artifacts.list_versions(self.settings.artifacts_dir), reverse=True):
            manifest_path = self.settings.artifacts_dir / version / "manifest.json"
            try:
                manifest = json.loads(manifest_path.read_text())
            except (OSError, ValueError) as exc:
                manifest = {"error": f"{manifest_path}: {exc}"}
            hybrid = (manifest.get("metrics") or {}).get("models", {}).get("hybrid", {})
            summary = {k: hybrid.get(k) for k in ("ndcg@10", "recall@10", "mrr", "coverage", "channel_accuracy",
                                                  "engagement_auc") if k in hybrid}
            rows.append({"version": version, "created": manifest.get("created"), "protocol": manifest.get("protocol"),
                         "metrics": summary, "current": version == current, "serving": version == serving,
                         "refused": self.state.refused.get(version), "error": manifest.get("error")})
        return rows

    # -- operations --------------------------------------------------------------------------
    def health(self) -> dict:
        try:
            self.store.query("SELECT 1 AS ok")
            store_ok, store_error = True, None
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            store_ok, store_error = False, f"{type(exc).__name__}: {exc}"
        cache_ok = self.cache.probe()
        live = self.state.live
        serving = live.serving
        try:
            pointer = self.state.pointer.read()
        except Exception:  # noqa: BLE001
            pointer = None
        status = "ok" if store_ok and serving is not None and cache_ok else ("down" if not store_ok else "degraded")
        return {
            "status": status, "store": store_ok, "store_error": store_error, "store_dialect": self.store.dialect,
            "bundle_loaded": serving is not None, "version": None if serving is None else serving.version,
            "pointer_version": pointer, "cache_backend": self.cache.backend_name, "cache_ok": cache_ok,
            "uptime_s": round(time.time() - self._started, 1), "as_of": live.data.day.date().isoformat(),
            "data_end": iso(live.data.snapshot.data_end), "data_version": live.data.snapshot.data_version,
            "feedback_version": live.feedback.version, "hcps": len(live.data.snapshot.hcps),
            "contents": len(live.data.snapshot.contents),
        }

    def cache_status(self) -> dict:
        live = self.state.read()
        return {**self.cache.status(), "version": self.state.version, **live_versions(live)}
