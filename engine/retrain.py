"""Retrain while the app serves: the training pipeline in its own process, its progress as a percentage.

:func:`retrain` runs :func:`engine.models.pipeline.train_pipeline` in a fresh Python process
(``python -m engine.retrain``): TensorFlow cannot be trusted in a process forked from a serving
worker, and a fresh process gives the memory back when it ends. The child reports through a
:class:`TrainingProgress`, which turns the pipeline's stage messages into one percentage and a
sentence, written as one JSON line per step on its stdout; the parent hands each to
``report(percent, message)`` and returns the new bundle's version. The new bundle is written but
not served: an admin reloads it (every worker follows).

One retrain runs at a time per host (a lock file in ``VAR_DIR``); its state is kept in
``VAR_DIR/retrain.json`` so any worker can say what is running, what finished and what failed.
"""
from __future__ import annotations

import fcntl
import json
import os
import pickle
import subprocess
import sys
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

from engine.progress import Progress

#: The pipeline's stages in order, with their share of a run's time (measured on the demo world).
TRAINING_STAGES = {"data": 3, "split": 1, "topics": 20, "collaborative": 4, "sequence": 24, "hybrid": 24,
                   "evaluation": 18, "serving features": 2, "bundle": 4}
#: What each stage does, as the progress bar says it.
STAGE_TEXT = {"data": "Reading the data", "split": "Splitting training and test periods",
              "topics": "Learning the content topics", "collaborative": "Finding similar HCPs",
              "sequence": "Training the journey model", "hybrid": "Training the recommendation model",
              "evaluation": "Checking quality against baselines", "serving features": "Preparing for serving",
              "bundle": "Writing the new model version"}
#: Progress messages of sub-steps, mapped to the stage they belong to.
_SUB_STAGES = {"topics sweep": "topics", "evaluate": "evaluation", "baselines": "evaluation"}
LOCK_FILE, STATE_FILE = "retrain.lock", "retrain.json"


class RetrainError(RuntimeError):
    """Training failed; the message says where (the last lines the training process wrote)."""


class RetrainBusy(RetrainError):
    """Another retrain is running on this host."""


class TrainingProgress(Progress):
    """The training pipeline's progress as ``report(percent, message)`` (percent 0..100, never backwards).

    A stage's share is counted when the pipeline says it is done; inside a stage, a progress bar
    (``bar(stage, done, total)``) moves it proportionally and every other message (an epoch, a
    sweep step) moves it a little further toward the end of the stage.
    """

    def __init__(self, report):
        super().__init__(quiet=True)
        self.report = report
        self.finished: set[str] = set()
        self.stage: str | None = None
        self.within = 0.0
        self.percent = 0

    def _stage_of(self, stage: str) -> str | None:
        if stage in TRAINING_STAGES:
            return stage
        return next((s for prefix, s in _SUB_STAGES.items() if stage.startswith(prefix)), self.stage)

    def _emit(self, message: str) -> None:
        share = sum(TRAINING_STAGES[s] for s in self.finished)
        if self.stage and self.stage not in self.finished:
            share += TRAINING_STAGES[self.stage] * min(self.within, 0.95)
        self.percent = max(self.percent, min(99, int(share * 100 / sum(TRAINING_STAGES.values()))))
        self.report(self.percent, message)

    def __call__(self, stage: str, message: str = "") -> None:
        known = self._stage_of(stage)
        if known is None:
            return
        if known != self.stage:
            self.stage, self.within = known, 0.0
        if stage == known and message.startswith("done in"):
            self.finished.add(known)
        else:
            self.within += (1.0 - self.within) * 0.3
        self._emit(STAGE_TEXT[known] + ("" if known in self.finished else "…"))

    def bar(self, stage: str, done: int, total: int, extra: str = "") -> None:
        known = self._stage_of(stage)
        if known is None or total <= 0:
            return
        if known != self.stage:
            self.stage = known
        self.within = done / total
        self._emit(f"{STAGE_TEXT[known]}… {done:,} of {total:,}")


# -- state shared by the workers of a host ---------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_state(var_dir) -> dict | None:
    """The last retrain's state ``{state, user, started, finished, percent, message, version, error}``,
    ``state`` one of running, done, failed (a run whose process died reads as failed); None if none ran."""
    path = Path(var_dir) / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if state.get("state") == "running" and not is_running(var_dir):
        state.update(state="failed", error="the training process stopped before it finished")
    return state


def is_running(var_dir) -> bool:
    """Whether a retrain holds this host's lock now."""
    path = Path(var_dir) / LOCK_FILE
    if not path.exists():
        return False
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _write_state(var_dir: Path, state: dict) -> None:
    path = var_dir / STATE_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)  # readers never see half a file


# -- the parent: run, read progress, keep the state -------------------------------------------------
def retrain(settings, report=lambda percent, message: None, user: str | None = None, config=None,
            python: str = sys.executable) -> str:
    """Train a new bundle in a child process; ``report(percent, message)`` on every step; return its version.

    Raises
    ------
    RetrainBusy : a retrain is already running on this host.
    RetrainError : training failed (the message carries the child's last lines).
    """
    var_dir = Path(settings.var_dir)
    var_dir.mkdir(parents=True, exist_ok=True)
    with open(var_dir / LOCK_FILE, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            running = read_state(var_dir) or {}
            raise RetrainBusy(f"a retrain started by {running.get('user') or 'someone'} at "
                              f"{running.get('started') or 'an unknown time'} is still running") from None
        state = {"state": "running", "user": user, "started": _now(), "finished": None, "percent": 0,
                 "message": "Starting…", "version": None, "error": None}
        _write_state(var_dir, state)
        try:
            version = _run_child(settings, config, python, state, var_dir, report)
        except Exception as exc:
            state.update(state="failed", finished=_now(), error=str(exc))
            _write_state(var_dir, state)
            raise
        state.update(state="done", finished=_now(), percent=100, message="Done", version=version)
        _write_state(var_dir, state)
        report(100, f"New version {version} is ready")
        return version


def _run_child(settings, config, python: str, state: dict, var_dir: Path, report) -> str:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).resolve().parent.parent),
                                                    env.get("PYTHONPATH")) if p)
    child = subprocess.Popen([python, "-m", "engine.retrain"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, text=True)
    child.stdin.write(pickle.dumps((settings, config)).hex())
    child.stdin.close()
    tail: deque[str] = deque(maxlen=20)
    version, error, written = None, None, 0.0
    for line in child.stdout:
        try:
            item = json.loads(line)
        except ValueError:
            tail.append(line.rstrip())
            continue
        if "percent" in item:
            report(int(item["percent"]), str(item["message"]))
            state.update(percent=int(item["percent"]), message=str(item["message"]))
            if time.monotonic() - written > 1.0:  # other workers read it; once a second is plenty
                _write_state(var_dir, state)
                written = time.monotonic()
        version, error = item.get("version", version), item.get("error", error)
    tail.extend(child.stderr.read().splitlines()[-20:])
    if child.wait() != 0 or not version:
        raise RetrainError(error or "training failed: " + " | ".join(line for line in tail if line.strip())[-600:])
    return str(version)


# -- the child: python -m engine.retrain -----------------------------------------------------------
def main() -> int:
    """Read the pickled ``(settings, config)`` (hex) from stdin, train, print JSON lines on stdout."""
    from engine.models.pipeline import train_pipeline

    settings, config = pickle.loads(bytes.fromhex(sys.stdin.read()))

    def emit(item: dict) -> None:
        print(json.dumps(item), flush=True)

    progress = TrainingProgress(lambda percent, message: emit({"percent": percent, "message": message}))
    try:
        version = train_pipeline(settings, progress=progress, config=config)
    except Exception as exc:  # noqa: BLE001 - the parent shows the reason; the traceback goes to stderr
        import traceback

        traceback.print_exc()
        emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    emit({"version": version})
    return 0


if __name__ == "__main__":
    sys.exit(main())
