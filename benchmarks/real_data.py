"""Real-data benchmark: MovieLens-100K through the product end to end, as a brand with its own files would.

1. **Fetch** ml-100k (``fetch-movielens-100k``, next to ``SEED_DIR`` in ``shared/data/public``; it
   takes the copy the recbole package ships on PyPI) into ``var/movielens`` once, or use ``--data DIR``.
2. **Convert** it into the product's input files (:mod:`benchmarks.movielens`): an NPPES HCP CSV
   (users, occupation as specialty), a PubMed content CSV (movies), a CRM interaction export (ratings).
3. **Ingest** them with ``python -m engine ingest`` into a fresh DuckDB store (a temporary
   ``DATABASE_URL`` and ``ARTIFACTS_DIR``), then ``train`` and ``evaluate`` under ``loo-sampled100``
   and ``temporal`` (full catalogue).
4. **Plain log**: the interaction CSV alone through ``train --interactions`` (``loo-sampled100``) and
   ``evaluate``, against an empty store (the bundle carries its data).
5. **Serve** the dashboard (gunicorn on a free 127.0.0.1 port) on the ingested store and the temporal
   bundle, sign in in headless Chromium and open every page, an HCP 360 and the topic explorer:
   each must become usable with no console error, no error alert and no traceback in the server log.

Prints one table (HR@10, NDCG@10, MRR, coverage of every model the evaluation reports, per run) and
the seconds of every stage; ``--json`` prints one object ``{"seconds", "stage_seconds",
"end_to_end_seconds", "loo": {"version", "models"}, "temporal": {...}, "plain_loo": {...},
"pages_ok", "pages"}`` whose ``models`` are keyed like ``evaluate --json``.

    python benchmarks/real_data.py [--data DIR] [--epochs N] [--no-pages] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.movielens import write_product_files  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.data.store import Store  # noqa: E402

#: Bar of issue 10: ingest + train + evaluate of ml-100k on a 2-core machine.
END_TO_END_BAR_S = 120.0
#: The figures of each model in the table and the JSON (JSON key -> evaluation report key).
FIGURES = {"hit@10": "hit_rate@10", "ndcg@10": "ndcg@10", "mrr": "mrr", "coverage": "coverage"}
RUNS = ("loo", "temporal", "plain_loo")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fetch(data_dir: Path, seed_dir: Path) -> Path:
    """ml-100k in ``data_dir`` (fetched once with the shared fetch script)."""
    if (data_dir / "ml-100k.inter").is_file():
        return data_dir
    script = seed_dir.parent / "public" / "fetch-movielens-100k"
    if not script.is_file():
        raise SystemExit(f"error: no ml-100k in {data_dir} and no fetch script at {script} "
                         "(set SEED_DIR, or pass --data DIR holding ml-100k.inter/.user/.item)")
    log(f"fetching ml-100k into {data_dir}")
    subprocess.run(["bash", str(script), str(data_dir)], check=True, stdout=sys.stderr)
    return data_dir


class Engine:
    """``python -m engine`` in a child process with its own store and artifacts; records seconds per stage."""

    def __init__(self, env: dict, seconds: dict):
        self.env = env
        self.seconds = seconds

    def __call__(self, stage: str, *args: str) -> dict:
        command = [sys.executable, "-m", "engine", *args, "--json", "--quiet"]
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.perf_counter() - started, 1)
        if result.returncode != 0:
            raise SystemExit(f"error: `{' '.join(command[1:])}` exited with {result.returncode}:\n"
                             f"{result.stderr.strip()[-2000:]}")
        log(f"{stage}: {' '.join(args[:2])} done in {time.perf_counter() - started:.1f}s")
        return json.loads(result.stdout)


def engine_env(database_url: str, artifacts_dir: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
            "DATABASE_URL": database_url, "ARTIFACTS_DIR": str(artifacts_dir)}


def figures(report: dict) -> dict:
    """``{model: {hit@10, ndcg@10, mrr, coverage}}`` of an ``evaluate --json`` report."""
    return {name: {key: row.get(source) for key, source in FIGURES.items()}
            for name, row in report["models"].items()}


def train_and_evaluate(engine: Engine, run: str, *train_args: str) -> dict:
    trained = engine(f"train {run}", "train", *train_args)
    report = engine(f"evaluate {run}", "evaluate", "--version", trained["version"])
    return {"version": trained["version"], "train_stage_seconds": trained.get("stage_seconds", {}),
            "models": figures(report)}


# -- the dashboard ---------------------------------------------------------------------------------
PAGE_PROBLEMS_SCRIPT = """
const alerts = Array.from(document.querySelectorAll('.error-alert')).map(e => e.innerText.trim());
const empty = Array.from(document.querySelectorAll('.empty-state')).map(e => e.innerText.trim().replace(/\\s+/g, ' '));
const undrawn = Array.from(document.querySelectorAll('.dash-graph')).filter(g => !g.querySelector('.main-svg'));
return {alerts: alerts, empty: empty, undrawn: undrawn.length,
        loading: document.querySelectorAll('[data-dash-is-loading="true"]').length};
"""


def check_pages(settings: Settings, workdir: Path, topic_words: list[str], screenshots: Path | None) -> dict:
    """Serve the dashboard and open every page as an admin.

    Returns ``{path: {"ok", "problems", "empty"}}``: problems are console errors, error alerts, a
    missing ready marker, callbacks still loading or charts not drawn after 60 s, or (topic
    explorer) no movie genre among the topics; ``empty`` lists the sections showing an empty state (reported, not failed:
    a fresh store has no admin actions yet).
    """
    from selenium.webdriver.common.by import By

    from tests.fixtures.web import (GunicornServer, console_errors, login, make_browser, wait_ready,
                                    write_users_file)

    users = write_users_file(workdir / "users.json")
    server = GunicornServer(settings, users, workdir / "gunicorn.log").start(timeout_s=180)
    driver = make_browser()
    pages: dict = {}
    try:
        login(driver, server.url, "admin")
        console_errors(driver)
        paths = [a.get_attribute("href").removeprefix(server.url) or "/"
                 for a in driver.find_elements(By.CSS_SELECTOR, "#shell-nav a.nav-link")]
        busiest = Store(settings.database_url).query(
            "SELECT hcp_id FROM interactions GROUP BY hcp_id ORDER BY count(*) DESC, hcp_id LIMIT 1")["hcp_id"].iloc[0]
        paths += [f"/hcp/{busiest}"] + [p for p in ("/topics",) if p not in paths]
        for path in paths:
            problems = []
            driver.get(server.url + path)
            try:
                wait_ready(driver, timeout=90)
            except Exception:  # noqa: BLE001 - reported as the page's problem
                problems.append("no ready marker within 90 s")
            deadline = time.monotonic() + 60
            state = driver.execute_script(PAGE_PROBLEMS_SCRIPT)
            while (state["loading"] or state["undrawn"]) and time.monotonic() < deadline:  # callbacks, charts
                time.sleep(0.2)
                state = driver.execute_script(PAGE_PROBLEMS_SCRIPT)
            problems += [f"console: {e['message'][:200]}" for e in console_errors(driver)]
            problems += [f"error alert: {a[:200]}" for a in state["alerts"]]
            if state["loading"] or state["undrawn"]:
                problems.append(f"{state['loading']} component(s) still loading, {state['undrawn']} chart(s) "
                                "not drawn after 60 s")
            if path.startswith("/hcp/") and not driver.find_elements(By.CSS_SELECTOR, "#hcp360-recs .action-card"):
                problems.append("the busiest HCP gets no recommendation")
            if path == "/topics":
                text = driver.find_element(By.TAG_NAME, "body").text.lower()
                if not any(word in text for word in topic_words):
                    problems.append(f"no movie genre ({', '.join(topic_words)}) among the topics shown")
            pages[path] = {"ok": not problems, "problems": problems, "empty": [e[:200] for e in state["empty"]]}
            log(f"page {path}: {pages[path]}")
            if screenshots is not None:
                screenshots.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(screenshots / f"{path.strip('/').replace('/', '-') or 'overview'}.png"))
    finally:
        driver.quit()
        server.stop()
    tracebacks = server.log_tail(10_000).count("Traceback")
    if tracebacks:
        pages["server log"] = {"ok": False, "problems": [f"{tracebacks} traceback(s) in the gunicorn log"],
                               "empty": []}
    return pages


# -- output ------------------------------------------------------------------------------------------
def table(result: dict) -> str:
    """One table: a row per model, HR@10 / NDCG@10 / MRR / coverage per run."""
    from engine.evaluation.report import MODEL_ORDER

    names = []
    for run in RUNS:
        names += [n for n in result[run]["models"] if n not in names]
    names = ([n for n in MODEL_ORDER if n in names] + sorted(n for n in names if n.startswith("hybrid_without_"))
             + [n for n in names if n not in MODEL_ORDER and not n.startswith("hybrid_without_")])
    heads = ("HR@10", "NDCG@10", "MRR", "cov")
    width = max(map(len, names)) + 2
    lines = ["".ljust(width) + "".join(f"{run:^33s}" for run in RUNS),
             "model".ljust(width) + "".join(f"{h:>8s}" for _ in RUNS for h in heads) + " "]
    for name in names:
        cells = ""
        for run in RUNS:
            row = result[run]["models"].get(name, {})
            cells += "".join(f"{row[k]:>8.4f}" if isinstance(row.get(k), float) else f"{'-':>8s}" for k in FIGURES)
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "movielens",
                        help="folder with ml-100k.inter/.user/.item (fetched there when absent; default var/movielens)")
    parser.add_argument("--epochs", type=int, help="epochs of the networks (default: the models' own)")
    parser.add_argument("--no-pages", action="store_true", help="skip serving the dashboard")
    parser.add_argument("--screenshots", type=Path, help="save a screenshot of every page in this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    data_dir = fetch(args.data, Path(settings.seed_dir))
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    epochs = ["--epochs", str(args.epochs)] if args.epochs else []
    with tempfile.TemporaryDirectory(prefix="nba-real-data-") as tmp:
        work = Path(tmp)
        clock = time.perf_counter()
        files = write_product_files(data_dir, work / "files")
        seconds["convert"] = round(time.perf_counter() - clock, 1)
        store_url, artifacts = f"duckdb:///{work / 'store.duckdb'}", work / "artifacts"
        engine = Engine(engine_env(store_url, artifacts), seconds)
        for kind in ("hcps", "contents", "interactions"):
            engine("ingest", "ingest", kind, str(files[kind]))
        result = {"loo": train_and_evaluate(engine, "loo", "--protocol", "loo-sampled100", *epochs),
                  "temporal": train_and_evaluate(engine, "temporal", "--protocol", "temporal", *epochs)}
        plain = Engine(engine_env(f"duckdb:///{work / 'empty.duckdb'}", work / "plain-artifacts"), seconds)
        result["plain_loo"] = train_and_evaluate(plain, "plain_loo", "--protocol", "loo-sampled100",
                                                 "--interactions", str(files["interactions"]), *epochs)
        out = {"seconds": None, "stage_seconds": seconds,
               # one protocol, as a brand runs it: ingest, train, evaluate
               "end_to_end_seconds": round(seconds["ingest"] + seconds["train loo"] + seconds["evaluate loo"], 1),
               "end_to_end_bar_seconds": END_TO_END_BAR_S, **result}
        if not args.no_pages:
            clock = time.perf_counter()
            # the pages reason at the log's last day, as a brand replaying its history would: at today's
            # date every movie's approval window (to a year after the last rating) is over
            last = Store(store_url).query("SELECT max(timestamp) AS t FROM interactions")["t"].iloc[0]
            serving = settings.with_(database_url=store_url, artifacts_dir=artifacts, cache_dir=work / "cache",
                                     redis_url=None, users_file=None, secret_key=secrets.token_hex(16),
                                     as_of=pd.Timestamp(last).normalize())
            out["pages"] = check_pages(serving, work, ["drama", "comedy", "action", "thriller", "romance"],
                                       args.screenshots)
            out["pages_ok"] = all(page["ok"] for page in out["pages"].values())
            seconds["pages"] = round(time.perf_counter() - clock, 1)
    out["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(out))
        return 0
    print(table(out))
    print("stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    print(f"end to end (ingest + train + evaluate, loo-sampled100): {out['end_to_end_seconds']:.1f}s "
          f"(bar {END_TO_END_BAR_S:.0f}s); total {out['seconds']:.1f}s")
    if "pages" in out:
        print(f"pages_ok: {out['pages_ok']}")
        for path, page in out["pages"].items():
            empty = f" (empty: {'; '.join(page['empty'])})" if page["empty"] else ""
            print(f"  {path}: {'ok' if page['ok'] else '; '.join(page['problems'])}{empty}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
