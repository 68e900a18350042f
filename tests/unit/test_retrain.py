"""Retrain from the web app: progress as a percentage, one run per host, the state any worker reads,
tickets for jobs, and the formats the Admin page shows."""
from __future__ import annotations

import fcntl
import json

import pytest

from components.formats import cache_name, duration, percent, store_name, version_time, when
from engine.retrain import (LOCK_FILE, STATE_FILE, TRAINING_STAGES, RetrainBusy, RetrainError, TrainingProgress,
                            read_state, retrain)


def test_training_progress_moves_forward_through_the_stages():
    seen = []
    progress = TrainingProgress(lambda p, m: seen.append((p, m)))
    progress("data", "read hcps: 300 rows")
    progress("data", "done in 0.5s")
    progress.bar("topics sweep", 3, 12, "k=6")
    progress("topics", "done in 10s")
    progress("sequence", "epoch 1: loss 4.2")
    progress("sequence", "epoch 2: loss 3.9")
    percents = [p for p, _ in seen]
    assert percents == sorted(percents) and 0 <= percents[0] < percents[-1] < 100
    done = TRAINING_STAGES["data"] + TRAINING_STAGES["topics"]  # the split stage never said it was done
    assert percents[3] == int(done * 100 / sum(TRAINING_STAGES.values()))
    assert seen[2][1] == "Learning the content topics… 3 of 12"
    assert seen[-1][1] == "Training the journey model…"
    for stage in TRAINING_STAGES:
        progress(stage, "done in 1s")
    assert seen[-1][0] == 99  # 100 only once the bundle is written and the version known


def test_a_second_retrain_on_the_host_is_refused_while_one_runs(settings):
    settings.var_dir.mkdir(parents=True)
    (settings.var_dir / STATE_FILE).write_text(json.dumps({"state": "running", "user": "ada",
                                                          "started": "2026-11-29T08:20:00+00:00"}))
    with open(settings.var_dir / LOCK_FILE, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert read_state(settings.var_dir)["state"] == "running"
        with pytest.raises(RetrainBusy, match="started by ada"):
            retrain(settings)
    # the lock is free but the state says running: that process died
    assert read_state(settings.var_dir)["state"] == "failed"


def test_a_failed_training_says_why_and_is_recorded(settings):
    # an empty store: the pipeline refuses to train, the child reports it, the parent raises
    with pytest.raises(RetrainError, match=r"\w"):
        retrain(settings, user="ada")
    state = read_state(settings.var_dir)
    assert state["state"] == "failed" and state["user"] == "ada" and state["error"]


def test_job_tickets_are_signed_for_one_action(settings):
    from webapp import create_app
    from webapp.inputs import InvalidInput
    from webapp.jobs import read_ticket, sign_ticket

    app = create_app(settings, environ={})
    with app.server.app_context():
        ticket = sign_ticket({"action": "retrain", "user": "ada"})
        assert read_ticket(ticket, "retrain")["user"] == "ada"
        for bad in (ticket + "x", None, {"action": "retrain", "user": "ada"}, sign_ticket({"action": "other",
                                                                                           "user": "ada"})):
            with pytest.raises(InvalidInput, match="not a valid retrain ticket"):
                read_ticket(bad, "retrain")


def test_admin_formats_read_like_people_write():
    assert when("2026-11-29T08:20:47.397085+00:00") == "29 Nov 2026 08:20 UTC"
    assert when("2026-11-29 08:20:47") == "29 Nov 2026 08:20 UTC" and when(None) == "—"
    assert version_time("20261129-082047-abcdef") == "29 Nov 2026 08:20 UTC"
    assert [duration(s) for s in (474.8, 42, 3600 * 2 + 300, 86400 * 3)] == ["7 min", "42 s", "2 h 5 min", "3 days"]
    assert store_name("duckdb") == "DuckDB (embedded)" and store_name("postgresql") == "PostgreSQL"
    assert cache_name("redis") == "Redis" and percent(0.4215) == "42%"
