"""Spark batch scoring (local[2], a real JVM) equals the local path row for row, plans included.

The tiny trained world gets feedback (a dismissal and an accepted touch) and an HCP added after
training (scored by the peers' fold-in), so the executors exercise every rule the local path applies.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from engine.cli import main
from engine.data.store import Store
from engine.service import NBAService

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (.ci/run installs it)")


@pytest.fixture(scope="module")
def spark_settings(tmp_path_factory, trained_settings):
    root = tmp_path_factory.mktemp("spark")
    shutil.copyfile(trained_settings.database_url.removeprefix("duckdb:///"), root / "store.duckdb")
    settings = trained_settings.with_(database_url=f"duckdb:///{root / 'store.duckdb'}", cache_dir=root / "cache",
                                      var_dir=root / "var")
    store = Store(settings.database_url)
    newcomer = store.read("hcps").iloc[[0]].assign(hcp_id="1999999999", first_name="New", last_name="Comer")
    store.append("hcps", newcomer)
    service = NBAService.from_settings(settings, check_every_s=0)
    first, second = service.score_all(n=2).groupby("hcp_id").head(1).head(2).itertuples()
    service.record_feedback(first.hcp_id, first.content_id, first.channel, "dismiss", reason="Timing not right")
    service.record_feedback(second.hcp_id, second.content_id, second.channel, "accept")
    return settings


@pytest.fixture(scope="module")
def spark():
    from engine.service.spark import session

    spark = session("local[2]")
    yield spark
    spark.stop()


def _local(settings):
    service = NBAService.from_settings(settings, check_every_s=0)
    return service.score_all(n=5), service.plan_all(), service


def test_spark_scores_and_plans_equal_the_local_path(spark_settings, spark, tmp_path):
    from engine.service.spark import export_store, score_and_plan, to_pandas

    local, local_plans, service = _local(spark_settings)
    assert "1999999999" in set(local["hcp_id"])  # the fold-in HCP is scored
    folder = export_store(service.store, tmp_path / "tables")
    recommendations, plans = score_and_plan(spark, spark_settings, service.store, folder, n=5, plans=True)
    remote = to_pandas(recommendations, ["hcp_id", "rank"])
    remote_plans = to_pandas(plans, ["hcp_id", "step"])

    # the same HCPs, ranks, contents, channels and dates; the numbers to float32 rounding (the scorer's
    # float32 matrix products may round differently over a partition's HCPs than over a chunk of 2,048)
    pd.testing.assert_frame_equal(remote, local.reset_index(drop=True), check_dtype=False, rtol=1e-5)
    pd.testing.assert_frame_equal(remote_plans, local_plans.reset_index(drop=True), check_dtype=False, rtol=1e-5)
    assert len(remote) > 0 and len(remote_plans) > 0


def test_spark_reads_tables_written_by_spark(spark_settings, spark, tmp_path):
    """A brand's tables as Spark writes them (folders of part files, Spark's own types) score the same."""
    from engine.service.spark import TABLES, export_store, score_and_plan, to_pandas

    local, _, service = _local(spark_settings)
    exported = export_store(service.store, tmp_path / "exported")
    for table in TABLES:
        spark.read.parquet(str(exported / f"{table}.parquet")).repartition(3).write.parquet(
            str(tmp_path / "lake" / f"{table}.parquet"))
    recommendations, plans = score_and_plan(spark, spark_settings, service.store, tmp_path / "lake", n=5)
    assert plans is None
    pd.testing.assert_frame_equal(to_pandas(recommendations, ["hcp_id", "rank"]), local.reset_index(drop=True),
                                  check_dtype=False, rtol=1e-5)


def test_the_score_command_on_spark_stores_what_the_local_command_stores(spark_settings, tmp_path, capsys,
                                                                         monkeypatch):
    for key, value in {"DATABASE_URL": spark_settings.database_url, "ARTIFACTS_DIR": str(spark_settings.artifacts_dir),
                       "VAR_DIR": str(spark_settings.var_dir), "CACHE_DIR": str(spark_settings.cache_dir)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    stored = {}
    assert not (spark_settings.var_dir / "spark").exists() or not any((spark_settings.var_dir / "spark").iterdir())
    for engine in ("local", "spark"):
        code = main(["score", "--all", "--engine", engine, "--master", "local[2]", "--n", "3", "--json", "--quiet",
                     "--plans", str(tmp_path / f"plans-{engine}.parquet")])
        assert code == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["engine"] == engine and summary["stored"] and summary["plan_rows"] > 0
        stored[engine] = Store(spark_settings.database_url).read("recommendations").sort_values(
            ["hcp_id", "rank"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(stored["spark"], stored["local"], rtol=1e-5)
    assert not any((spark_settings.var_dir / "spark").iterdir())  # the exported tables are removed
    plans = [pd.read_parquet(tmp_path / f"plans-{engine}.parquet") for engine in ("local", "spark")]
    pd.testing.assert_frame_equal(plans[1], plans[0], check_dtype=False, rtol=1e-5)


def test_the_spark_command_refuses_what_it_cannot_do(spark_settings, capsys, tmp_path):
    assert main(["score", "--hcp", "1", "--engine", "spark"]) == 1
    assert "use it with --all" in capsys.readouterr().err
    assert main(["score", "--all", "--engine", "spark", "--input", str(tmp_path)]) == 1
    assert "no hcps.parquet" in capsys.readouterr().err


def test_executors_load_the_bundle_without_tensorflow(spark_settings):
    """What an executor imports to score (the partition code and the serving bundle) never loads TensorFlow."""
    code = ("import sys; from engine.bundles import load_serving_bundle; import engine.service.spark as s; "
            "import engine.service.recommendations, engine.service.state; "
            f"load_serving_bundle({str(spark_settings.artifacts_dir)!r}); "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.strip() == "[]"
