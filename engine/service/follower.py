"""The one owner of a process's serving state: it follows the store's versions and the shared pointer.

:class:`LiveState` holds the process's :class:`~engine.service.state.Live` reference and is the
only code that replaces it, always by one assignment, never attribute by attribute:

- an ingest bumps the store's data version; the :class:`~engine.service.live.VersionWatcher`
  notices within ``DATA_CHECK_S`` and the snapshot is rebuilt (shared through the cache: one
  worker builds it), then swapped in;
- an answer (accept / dismiss) bumps the feedback version: the feedback is re-read and swapped;
- a reload switches the bundle and moves the shared version pointer (:class:`VersionPointer`),
  which every process follows on its next read.

Every read (:meth:`LiveState.read`) follows both, so no page answers from a state another worker
has already left.
"""
from __future__ import annotations

import dataclasses
import logging
import threading

import pandas as pd

from engine.config import Settings
from engine.data.store import Store
from engine.service.cache import ServiceCache
from engine.service.feedback import FeedbackBook
from engine.service.live import VersionWatcher, follows_clock, reasoning_day
from engine.service.registry import VersionPointer
from engine.service.state import Live, NoBundleError, Serving, bundles, live_versions, load_data

log = logging.getLogger("engine.service")


class LiveState:
    """The serving state of one process, following the store's versions and the shared pointer.

    Parameters
    ----------
    settings, store, cache, pointer : the product's settings, store, result cache and version pointer.
    live : the state to start from.
    check_every_s : 0 re-reads the store's versions on every read (tests); else they are checked
        every ``settings.data_check_s`` in a background thread.
    """

    def __init__(self, settings: Settings, store: Store, cache: ServiceCache, pointer: VersionPointer, live: Live,
                 check_every_s: float = 0.5):
        self.settings = settings
        self.store = store
        self.cache = cache
        self.pointer = pointer
        self._live = live
        #: versions that failed to load, with why (not retried until a reload names them)
        self.refused: dict[str, str] = {}
        self._follow_lock = threading.Lock()
        self._swap_lock = threading.RLock()
        data_check = check_every_s if check_every_s <= 0 else settings.data_check_s
        self.watcher = VersionWatcher(store, self._follow_data, check_every_s=data_check,
                                      on_glance=lambda state: self.follow_feedback(state["feedback"]))
        self.watcher.last = {**live_versions(live), "today": pd.Timestamp.now().date().isoformat()}

    @classmethod
    def open(cls, settings: Settings, store: Store, cache: ServiceCache, pointer: VersionPointer,
             check_every_s: float = 0.5) -> "LiveState":
        """The state of the store's current versions with the serving bundle: the shared pointer's
        version when set and loadable, else the artifacts' ``current``, else none."""
        versions = store.versions(mirror=False)
        data = load_data(store, settings, cache, versions["data"])
        feedback = FeedbackBook.load(store, versions["feedback"], settings.dismiss_days, settings.snooze_days)
        state = cls(settings, store, cache, pointer, Live(data, None, feedback), check_every_s)
        candidates = [pointer.read(), bundles().current_version(settings.artifacts_dir)]
        for version in dict.fromkeys(v for v in candidates if v):
            try:
                state.swap_serving(state.load(version))
                break
            except Exception as exc:  # noqa: BLE001 - try the next candidate, say why
                state.refused[version] = str(exc)
                log.error("bundle %s not loadable (%s)", version, exc)
        return state

    def load(self, version: str) -> Serving:
        """Load, validate and prepare bundle ``version`` over the live snapshot (nothing is swapped)."""
        # the serving components only: numpy and JSON, never Keras in a web worker
        bundle = bundles().load_serving_bundle(self.settings.artifacts_dir, version,
                                               key=self.settings.bundle_signing_key)
        return Serving.build(bundle, self._live.data.snapshot, self.settings)

    # -- reading ---------------------------------------------------------------------------
    @property
    def live(self) -> Live:
        """The state as it is now, following nothing (health reports, the serving version)."""
        return self._live

    @property
    def version(self) -> str | None:
        """The bundle version this process serves (None when no bundle is loaded)."""
        serving = self._live.serving
        return None if serving is None else serving.version

    def read(self) -> Live:
        """The state for this request: after the data watcher's check (when it runs inline) and after
        following the shared pointer if it moved (cheap: a string comparison unless it did)."""
        self.watcher.poll()
        live = self._live
        wanted = self.pointer.poll()
        if wanted and (live.serving is None or wanted != live.serving.version) and wanted not in self.refused:
            self._follow(wanted)
            live = self._live
        return live

    def current(self) -> Live:
        """:meth:`read`, with a serving bundle.

        Raises
        ------
        NoBundleError : no bundle is loaded.
        """
        live = self.read()
        if live.serving is None:
            raise NoBundleError("no model bundle is loaded: train one with `python -m engine train`")
        return live

    def shared_version(self) -> str | None:
        """The version every worker is pointed at now (read, not this worker's last poll)."""
        try:
            return self.pointer.read() or self.version
        except Exception as exc:  # noqa: BLE001 - pointer unreadable: this worker's version is the best guess
            log.warning("version pointer unreadable (%s); deciding from this worker's version %s", exc, self.version)
            return self.version

    # -- swapping --------------------------------------------------------------------------
    def swap_serving(self, serving: Serving | None) -> None:
        """Serve ``serving`` from now on (one assignment of the live state); one built over an older
        snapshot than the live one is rebuilt over the live one first."""
        with self._swap_lock:
            live = self._live
            if serving is not None and serving.snapshot is not live.data.snapshot:
                serving = Serving.build(serving.bundle, live.data.snapshot, self.settings)
            self._live = dataclasses.replace(live, serving=serving)
            if serving is not None:
                self.refused.pop(serving.version, None)

    def switch(self, version: str) -> Serving:
        """Load ``version``, serve it and point every process at it (errors leave everything as it was)."""
        serving = self.load(version)
        self.swap_serving(serving)
        self.pointer.write(serving.version)
        return serving

    def _follow(self, version: str) -> None:
        # one thread loads; the others keep answering from the current version meanwhile
        if not self._follow_lock.acquire(blocking=False):
            return
        try:
            current = self.version
            if current == version:
                return
            try:
                self.swap_serving(self.load(version))
                log.info("following the shared pointer: now serving %s", version)
            except Exception as exc:  # noqa: BLE001 - keep serving what we have
                self.refused[version] = str(exc)
                log.error("shared pointer names %s but it does not load (%s); still serving %s",
                          version, exc, current)
        finally:
            self._follow_lock.release()

    def _follow_data(self, state: dict) -> None:
        """The watcher's callback: rebuild what changed (data, the as-of day, feedback) and swap once."""
        with self._swap_lock:
            live = self._live
            data, serving, feedback = live.data, live.serving, live.feedback
            if state["data"] != data.snapshot.data_version or follows_clock(self.settings.as_of):
                day = reasoning_day(self.settings.as_of, self.store)
                if state["data"] != data.snapshot.data_version or day != data.day:
                    data = load_data(self.store, self.settings, self.cache, state["data"], day)
                    serving = None if serving is None else Serving.build(serving.bundle, data.snapshot, self.settings)
                    log.info("serving data version %s as of %s", state["data"], day.date())
            if state["feedback"] != feedback.version:
                feedback = self._feedback(state["feedback"])
            if (data, serving, feedback) != (live.data, live.serving, live.feedback):
                self._live = Live(data, serving, feedback)  # the swap: one reference assignment

    def follow_feedback(self, version: str) -> None:
        """Read the feedback of ``version`` back and swap it in (data and bundle unchanged)."""
        with self._swap_lock:
            live = self._live
            if version != live.feedback.version:
                self._live = dataclasses.replace(live, feedback=self._feedback(version))

    def _feedback(self, version: str) -> FeedbackBook:
        return FeedbackBook.load(self.store, version, self.settings.dismiss_days, self.settings.snooze_days)

    def refresh(self) -> dict:
        """Check the store's versions now and switch to new data or feedback at once; returns the
        versions served and whether they changed."""
        before = self._live
        self.watcher.check()
        after = self._live
        return {"changed": after is not before, **live_versions(after)}

    def stop(self) -> None:
        """Stop this process's background readers (tests, short-lived scripts)."""
        self.pointer.stop()
        self.watcher.stop()
