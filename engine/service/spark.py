"""Batch scoring and plans for every HCP on Apache Spark: ``python -m engine score --all --engine spark``.

The local path (:meth:`engine.service.recommendations.Recommendations.score_all`) holds every HCP's
history in one process. Here the work is split by HCP over Spark executors, each running the same
numpy code (:func:`~engine.service.recommendations.score_rows`, :func:`~.plan_rows`) on its HCPs:

- the tables come from Parquet: a folder holding ``hcps``, ``contents``, ``interactions`` and
  ``feedback`` (``--input``: e.g. a brand's tables on shared storage), or the store exported batch
  by batch into one (:meth:`engine.data.store.Store.export_parquet`);
- the bundle ships once to every executor (``SparkContext.addFile`` of its folder) and is loaded
  there with :func:`engine.bundles.load_serving_bundle`: checksums checked, numpy only (executors
  never import TensorFlow);
- what every HCP's rules read whatever its partition (the HCP and content tables, each HCP's
  touches per channel, the feedback: small, per HCP or per content) is broadcast; the large facts
  (touches inside the contact-cap window, engaged content) are computed in Spark and partitioned by
  HCP, and ``mapInPandas`` scores each partition over a data snapshot holding its HCPs' facts.

Same inputs, same code: the rows equal the local path's (``tests/integration/test_spark.py``).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.config import CHANNELS, Settings
from engine.data.store import conform
from engine.progress import QUIET

#: the tables the executors read
TABLES = ("hcps", "contents", "interactions", "feedback")
#: HCPs per partition (at least ``defaultParallelism`` partitions)
HCPS_PER_PARTITION = 25_000
RECOMMENDATION_SCHEMA = ("hcp_id string, rank long, content_id string, channel string, score double, "
                         "engagement_probability double, bundle_version string")
PLAN_SCHEMA = ("hcp_id string, step long, date timestamp, content_id string, channel string, "
               "engagement_probability double, value double")


@dataclass(frozen=True)
class Context:
    """What every executor needs besides its partition (broadcast once)."""

    settings: Settings
    version: str
    data_version: str
    day: pd.Timestamp
    now: pd.Timestamp
    hcps: pd.DataFrame        # the HCP table, by hcp_id (the snapshot's order)
    contents: pd.DataFrame    # the content table, by content_id
    touches: np.ndarray       # [n_hcps, n_channels] touches and engaged touches of all history
    engaged: np.ndarray
    feedback: pd.DataFrame    # the feedback table
    feedback_version: str
    data_end: pd.Timestamp | None


def session(master: str, app: str = "nba-score"):
    """A Spark session on ``master`` (``local[2]``, ``spark://host:7077``; on Databricks the cluster's).

    A local master's Python workers run this interpreter (its environment has the engine's
    packages); a cluster's run the Python its ``PYSPARK_PYTHON`` names.
    """
    from pyspark.sql import SparkSession

    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # what PySpark starts its workers with
    return (SparkSession.builder.master(master).appName(app)
            .config("spark.sql.session.timeZone", "UTC")  # timestamps stay the store's wall-clock times
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.ui.enabled", "false")
            .getOrCreate())


def export_store(store, folder: Path, progress=QUIET) -> Path:
    """The store's :data:`TABLES` as Parquet files in ``folder`` (written batch by batch)."""
    folder = Path(folder)
    for table in TABLES:
        store.export_parquet(table, folder / f"{table}.parquet")
        progress("spark", f"exported {table} to {folder / f'{table}.parquet'}")
    return folder


def score_and_plan(spark, settings: Settings, store, source: Path, n: int = 10, plans: bool = False,
                   progress=QUIET):
    """Every HCP's top-``n`` recommendations (and with ``plans`` its plan) computed on Spark.

    Parameters
    ----------
    spark : a Spark session (:func:`session`).
    settings : the product's settings (bundle, rules, as-of day).
    store : the store: the as-of day and the versions.
    source : a folder of the Parquet tables :data:`TABLES` (:func:`export_store` writes the store's).

    Returns
    -------
    ``(recommendations, plans)``: Spark DataFrames (``plans`` None unless asked), ``recommendations``
    of the ``recommendations`` table's columns, ``plans`` of :data:`~.recommendations.PLAN_COLUMNS`.
    """
    from pyspark.sql import functions as F

    from engine import bundles
    from engine.service.live import reasoning_day, reasoning_instant
    from engine.service.registry import VersionPointer

    version = VersionPointer(store, settings.redis_url).read() or bundles.current_version(settings.artifacts_dir)
    if version is None:
        raise bundles.BundleError(f"no current bundle in {settings.artifacts_dir}: run `python -m engine train` first")
    bundles.load_serving_bundle(settings.artifacts_dir, version, key=settings.bundle_signing_key)  # refuse a bad one here
    day = reasoning_day(settings.as_of, store)
    now = reasoning_instant(day)
    versions = store.versions(mirror=False)
    tables = {name: spark.read.parquet(str(Path(source) / f"{name}.parquet")) for name in TABLES}
    touches = tables["interactions"]

    per_channel = (touches.groupBy("hcp_id", "channel")
                   .agg(F.count(F.lit(1)).alias("touches"), F.sum(F.col("engaged").cast("long")).alias("engaged"))
                   .toPandas())
    hcps = conform("hcps", tables["hcps"].toPandas()).sort_values("hcp_id").reset_index(drop=True)
    position = pd.Series(np.arange(len(hcps)), index=hcps["hcp_id"].astype(str).to_numpy())
    data_end = touches.agg(F.max("timestamp")).first()[0]
    context = Context(
        settings=settings, version=version, data_version=versions["data"], day=day, now=now, hcps=hcps,
        contents=conform("contents", tables["contents"].toPandas()).sort_values("content_id").reset_index(drop=True),
        touches=_channel_counts(per_channel, position, "touches"), engaged=_channel_counts(per_channel, position, "engaged"),
        feedback=tables["feedback"].toPandas(), feedback_version=versions["feedback"],
        data_end=None if data_end is None else pd.Timestamp(data_end))

    cap_start = now - pd.Timedelta(days=settings.cap_days)
    window = (touches.where((F.col("timestamp") > F.lit(cap_start.to_pydatetime()))
                            & (F.col("timestamp") <= F.lit(now.to_pydatetime())))
              .select("hcp_id", F.lit("window").alias("kind"), "channel", F.lit(None).cast("string").alias("content_id"),
                      "timestamp"))
    consumed = (touches.where(F.col("engaged")).select("hcp_id", "content_id").distinct()
                .select("hcp_id", F.lit("consumed").alias("kind"), F.lit(None).cast("string").alias("channel"),
                        "content_id", F.lit(None).cast("timestamp").alias("timestamp")))
    people = tables["hcps"].select("hcp_id", F.lit("hcp").alias("kind"), F.lit(None).cast("string").alias("channel"),
                                   F.lit(None).cast("string").alias("content_id"),
                                   F.lit(None).cast("timestamp").alias("timestamp"))
    partitions = max(spark.sparkContext.defaultParallelism, -(-len(hcps) // HCPS_PER_PARTITION))
    facts = people.unionByName(window).unionByName(consumed).repartition(partitions, "hcp_id")
    progress("spark", f"{len(hcps):,} HCPs in {partitions} partitions, bundle {version}, as of {day.date()}")

    sc = spark.sparkContext
    sc.addFile(str(bundles.bundle_dir(settings.artifacts_dir, version)), recursive=True)
    shared = sc.broadcast(context)
    recommendations = facts.mapInPandas(lambda batches: _run(batches, shared.value, "score", n),
                                        RECOMMENDATION_SCHEMA)
    planned = (facts.mapInPandas(lambda batches: _run(batches, shared.value, "plan", n), PLAN_SCHEMA)
               if plans else None)
    return recommendations, planned


def _channel_counts(per_channel: pd.DataFrame, position: pd.Series, value: str) -> np.ndarray:
    """Long (hcp_id, channel, value) rows -> int64 ``[n_hcps, n_channels]``."""
    out = np.zeros((len(position), len(CHANNELS)), dtype=np.int64)
    rows = position.reindex(per_channel["hcp_id"].astype(str)).to_numpy()
    cols = pd.Index(CHANNELS).get_indexer(per_channel["channel"].astype(str))
    ok = ~np.isnan(rows) & (cols >= 0)
    np.add.at(out, (rows[ok].astype(np.int64), cols[ok]), per_channel[value].to_numpy()[ok].astype(np.int64))
    return out


# -- on the executors ------------------------------------------------------------------------------------
_BUNDLES: dict = {}


def _bundle(context: Context):
    """The serving bundle, loaded once per executor process from the copy Spark shipped."""
    if context.version not in _BUNDLES:
        from pyspark import SparkFiles

        from engine.bundles import load_serving_bundle

        _BUNDLES[context.version] = load_serving_bundle(SparkFiles.getRootDirectory(), context.version,
                                                        key=context.settings.bundle_signing_key)
    return _BUNDLES[context.version]


def _run(batches, context: Context, kind: str, n: int):
    """``mapInPandas`` body: the partition's facts in, its HCPs' recommendations (or plans) out."""
    facts = pd.concat(list(batches), ignore_index=True)
    if not (facts["kind"] == "hcp").any():
        return
    yield partition_rows(facts, context, _bundle(context), kind, n)


def partition_rows(facts: pd.DataFrame, context: Context, bundle, kind: str, n: int) -> pd.DataFrame:
    """The recommendations (``kind`` "score") or plans ("plan") of the HCPs of one partition.

    ``facts``: rows ``hcp_id, kind, channel, content_id, timestamp`` where ``kind`` is ``hcp`` (one per
    HCP of the partition), ``window`` (a touch inside the contact-cap window) or ``consumed`` (content
    the HCP engaged with).
    """
    from engine.service.feedback import FeedbackBook
    from engine.service.recommendations import PLAN_COLUMNS, plan_rows, score_rows
    from engine.service.snapshot import DataSnapshot
    from engine.service.state import Serving

    settings = context.settings
    position = pd.Series(np.arange(len(context.hcps)), index=context.hcps["hcp_id"].astype(str).to_numpy())
    ids = np.sort(facts.loc[facts["kind"] == "hcp", "hcp_id"].astype(str).to_numpy())
    window = facts[facts["kind"] == "window"]
    consumed = facts[facts["kind"] == "consumed"]
    content_rows = pd.Series(np.arange(len(context.contents)),
                             index=context.contents["content_id"].astype(str).to_numpy()).reindex(
        consumed["content_id"].astype(str)).to_numpy()
    window_rows = position.reindex(window["hcp_id"].astype(str)).to_numpy()
    window_channels = pd.Index(CHANNELS).get_indexer(window["channel"].astype(str))
    in_window = ~np.isnan(window_rows) & (window_channels >= 0)
    known = ~np.isnan(content_rows)
    nat = np.full(len(context.hcps), np.datetime64("NaT"), dtype="datetime64[us]")
    snapshot = DataSnapshot(
        data_version=context.data_version, now=context.now, cap_days=settings.cap_days, hcps=context.hcps,
        contents=context.contents, touches=context.touches, engaged=context.engaged,
        window_hcp=window_rows[in_window].astype(np.int64), window_channel=window_channels[in_window],
        window_time=pd.to_datetime(window["timestamp"]).to_numpy(dtype="datetime64[us]")[in_window],
        first_touch=nat, last_touch=nat,
        consumed_hcp=position.reindex(consumed["hcp_id"].astype(str)).to_numpy()[known].astype(np.int64),
        consumed_content=content_rows[known].astype(np.int64),
        monthly=pd.DataFrame(columns=["month", "channel", "specialty", "state", "touches", "engaged"]),
        data_end=context.data_end)
    serving = Serving.build(bundle, snapshot, settings)
    feedback = FeedbackBook.from_rows(context.feedback[context.feedback["hcp_id"].astype(str).isin(ids)],
                                      context.feedback_version, settings.dismiss_days, settings.snooze_days)
    idx = serving.hcp_index.reindex(ids).dropna().to_numpy().astype(np.int64)
    if kind == "plan":
        rows = plan_rows(serving, feedback, context.day, settings.plan_horizon_days, idx)[PLAN_COLUMNS]
    else:
        rows = score_rows(serving, feedback, n, idx)
    # plain numpy columns: Arrow-backed text of several chunks is not what PySpark converts back
    return pd.DataFrame({name: (rows[name].astype(object) if rows[name].dtype.kind not in "biufM" else rows[name])
                         for name in rows.columns})


def to_pandas(frame, order: list[str]) -> pd.DataFrame:
    """A Spark result on the driver, in the local path's row order (by ``order``)."""
    rows = frame.toPandas()
    return rows.sort_values(order, kind="stable").reset_index(drop=True)

