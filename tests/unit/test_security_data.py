"""Security of the data half (issue 11): bundles carry data, never code; ingest never destroys by accident.

Each test replays an attack or accident of the issue and asserts it is refused and changes nothing:
a reload or ``set-current`` with ``/tmp/...`` or ``../..`` versions (through the service, the CLI
and the Admin page's callback), a manifest choosing its own class, a planted pickle, a manifest
naming another version, a tampered signed manifest; a header-only file in replace mode, a
20,000-character value, a 2099 timestamp; CSV cells starting ``;=`` or ``|=``.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.bundles import (MANIFEST, SIGNATURE, BundleError, bundle_dir, current_version, list_versions, load_bundle,
                            set_current, validate_bundle, write_bundle)
from engine.cli import CommandError, main
from engine.commands import bundles as bundles_cmd
from engine.data.ingest import ingest_file
from engine.data.store import Store
from engine.data.validation import ValidationError
from engine.progress import QUIET
from engine.service import NBAService
from tests.fixtures.web import sign_in, write_users_file
from tests.unit.test_bundles import ArrayComponent, ToyScorer
from tests.unit.test_ingest import NPI_A, reduced_hcps
from tests.unit.test_ingest_store import load_good, snapshot
from tests.unit.test_security import admin_action_payload
from tests.unit.test_service import copy_settings
from tests.unit.test_service_fakes import table_bundle

ROOT = Path(__file__).resolve().parents[2]
V1, V2 = "20240101-000000-aaaaaa", "20240102-000000-bbbbbb"


class Bomb:
    """A pickle that, if ever unpickled, writes ``marker`` (stands for any code an attacker runs)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


def toy_bundle(root: Path, version: str | None = None, key: str = "") -> str:
    return write_bundle(root, {"scorer": ToyScorer([0.5, -1.0, 2.0]), "table": ArrayComponent(np.arange(6))},
                        {"protocol": "temporal"}, version=version, key=key)


def rewrite_manifest(bundle: Path, change) -> None:
    """Edit a manifest as an attacker with write access would: the checksums still match."""
    manifest = json.loads((bundle / MANIFEST).read_text())
    change(manifest)
    manifest["files"] = {p.relative_to(bundle).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                         for p in sorted(bundle.rglob("*")) if p.is_file() and p.name not in (MANIFEST, SIGNATURE)}
    (bundle / MANIFEST).write_text(json.dumps(manifest))


def evil_bundle_outside(tmp_path: Path, marker: Path) -> Path:
    """A complete bundle outside ``ARTIFACTS_DIR`` whose component is a pickle (the issue's reproduction)."""
    outside = tmp_path / "outside"
    version = toy_bundle(outside)
    bundle = outside / version
    (bundle / "table" / "evil.pkl").write_bytes(pickle.dumps(Bomb(marker)))
    rewrite_manifest(bundle, lambda m: m["components"].update(table={"class": "joblib:numpy_pickle",
                                                                     "path": "table/evil.pkl"}))
    return bundle


# -- versions: a name inside ARTIFACTS_DIR, never a path ---------------------------------------------
def hostile_versions(tmp_path: Path, artifacts: Path, marker: Path) -> list[str]:
    evil = evil_bundle_outside(tmp_path, marker)
    return [str(evil), "/tmp/" + evil.name, f"../outside/{evil.name}", "../../../../tmp", evil.name + "\n",
            f"{evil.name}/../{evil.name}", "", "current"]


def test_versions_that_are_paths_are_refused_everywhere(tmp_path):
    artifacts = tmp_path / "artifacts"
    good = toy_bundle(artifacts)
    marker = tmp_path / "marker"
    for version in hostile_versions(tmp_path, artifacts, marker):
        for call in (lambda v: load_bundle(artifacts, v), lambda v: set_current(artifacts, v),
                     lambda v: bundle_dir(artifacts, v)):
            with pytest.raises(BundleError, match="refused|not found"):
                call(version)
    assert current_version(artifacts) == good and not marker.exists()


def test_a_symlinked_version_folder_is_refused(tmp_path):
    artifacts = tmp_path / "artifacts"
    toy_bundle(artifacts)
    evil = evil_bundle_outside(tmp_path, tmp_path / "marker")
    (artifacts / evil.name).symlink_to(evil)  # the attacker cannot name a path, so they plant a link
    with pytest.raises(BundleError, match="symbolic link or resolves outside"):
        load_bundle(artifacts, evil.name)
    assert evil.name not in list_versions(artifacts)  # so a rollback never picks it
    assert not (tmp_path / "marker").exists()


def test_service_reload_refuses_paths_and_keeps_serving(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path)
    table_bundle(settings, version=V1)
    service = NBAService.from_settings(settings)
    marker = tmp_path / "marker"
    for version in hostile_versions(tmp_path, settings.artifacts_dir, marker):
        if not version or version == "current":
            continue  # an empty version means "the current one" to reload
        result = service.reload(version, user="ada", role="admin")
        assert not result["ok"] and result["result"].startswith("refused: BundleError"), result
        assert service.version == V1
    assert not marker.exists()
    assert {row["result"][:8] for row in service.audit_log()} == {"refused:"}


def test_admin_page_reload_with_a_path_is_refused(world_settings, tmp_path):
    from webapp import create_app

    settings = copy_settings(world_settings, tmp_path, users_file=write_users_file(tmp_path / "users.json"))
    table_bundle(settings, version=V1)
    service = NBAService.from_settings(settings)
    client = create_app(settings, environ={}, service=service).server.test_client()
    sign_in(client, "admin")
    marker = tmp_path / "marker"
    evil = evil_bundle_outside(tmp_path, marker)
    for version in (str(evil), f"../outside/{evil.name}"):
        payload = admin_action_payload(client)
        for state in payload["state"]:
            state["value"] = version
        response = client.post("/_dash-update-component", json=payload)
        # refused by the callback's input check (4xx) or by the service (the page says so)
        assert 400 <= response.status_code < 500 or "refused" in response.get_data(as_text=True), response.status_code
        assert service.version == V1 and not marker.exists()


def test_cli_set_current_and_validate_refuse_paths(settings, tmp_path, capsys):
    good = toy_bundle(settings.artifacts_dir)
    marker = tmp_path / "marker"
    evil = evil_bundle_outside(tmp_path, marker)
    for action in ("set-current", "validate"):
        for version in (str(evil), f"../outside/{evil.name}"):
            with pytest.raises(CommandError, match="refused"):
                bundles_cmd.run(argparse.Namespace(action=action, version=version, json=True), settings, QUIET)
    assert current_version(settings.artifacts_dir) == good and not marker.exists()


# -- the manifest never chooses code -----------------------------------------------------------------
def test_a_manifest_naming_a_class_outside_the_allow_list_is_refused(tmp_path):
    marker = tmp_path / "marker"
    version = toy_bundle(tmp_path)
    bundle = tmp_path / version
    (bundle / "table" / "evil.npy").write_bytes(pickle.dumps(Bomb(marker)))
    for name in ("joblib:numpy_pickle", "pickle:loads", "builtins:eval", "os:system", "tests.unit.test_security_data:Bomb"):
        rewrite_manifest(bundle, lambda m: m["components"]["table"].update({"class": name}))
        problems = validate_bundle(bundle)
        assert any(f"class {name!r} is not an allowed component class" in p for p in problems), problems
        with pytest.raises(BundleError, match="not an allowed component class"):
            load_bundle(tmp_path, version)
    assert not marker.exists()


def test_writing_a_component_of_an_unlisted_class_is_refused(tmp_path):
    class Unlisted(ArrayComponent):
        pass

    with pytest.raises(BundleError, match="component 'table'.*not an allowed component class"):
        write_bundle(tmp_path, {"table": Unlisted([1])})
    assert list(tmp_path.iterdir()) == []


def test_a_planted_pickle_is_never_loaded(tmp_path):
    marker = tmp_path / "marker"
    version = toy_bundle(tmp_path)
    bundle = tmp_path / version
    # 1. next to the component's data, listed by a rewritten manifest: a file type a bundle may not hold
    (bundle / "table" / "model.pkl").write_bytes(pickle.dumps(Bomb(marker)))
    rewrite_manifest(bundle, lambda m: None)
    with pytest.raises(BundleError, match="file table/model.pkl is not an allowed type"):
        load_bundle(tmp_path, version)
    (bundle / "table" / "model.pkl").unlink()
    # 2. in place of the component's .npy (an object array, i.e. a pickle): numpy refuses to unpickle it
    np.save(bundle / "table" / "values.npy", np.array([Bomb(marker)], dtype=object), allow_pickle=True)
    rewrite_manifest(bundle, lambda m: None)
    with pytest.raises(BundleError, match="'table'.*failed to load: ValueError: Object arrays cannot be loaded"):
        load_bundle(tmp_path, version)
    assert not marker.exists()


def test_component_paths_and_links_inside_a_bundle_are_refused(tmp_path):
    version = toy_bundle(tmp_path)
    bundle = tmp_path / version
    rewrite_manifest(bundle, lambda m: m["components"]["table"].update({"path": "../../outside"}))
    assert any("stored in the folder of that name" in p for p in validate_bundle(bundle))
    (tmp_path / "secret.npy").write_bytes(b"not yours")
    (bundle / "table" / "link.npy").symlink_to(tmp_path / "secret.npy")
    assert "table/link.npy is a symbolic link (refused)" in validate_bundle(bundle)


@pytest.mark.parametrize("text, problem", [
    ("[]", "manifest.json is not a JSON object"),
    ('{"version": "V", "components": [], "files": {}}', "'components' is not an object"),
    ('{"version": "V", "components": {}, "files": ["x"]}', "'files' is not an object"),
    ('{"version": "V", "components": {"table": "os:system"}, "files": {}}', "lower-case name stored in the folder"),
    ("\udcff", "not valid JSON"),
])
def test_malformed_manifests_are_problems_not_crashes(tmp_path, text, problem):
    version = toy_bundle(tmp_path)
    manifest = json.loads((tmp_path / version / MANIFEST).read_text())
    text = text.replace('"V"', json.dumps(version)).replace('"files": {}', f'"files": {json.dumps(manifest["files"])}')
    (tmp_path / version / MANIFEST).write_bytes(text.encode("utf-8", "surrogateescape"))
    assert any(problem in p for p in validate_bundle(tmp_path / version)), validate_bundle(tmp_path / version)
    assert list_versions(tmp_path) == [version]
    with pytest.raises(BundleError):
        load_bundle(tmp_path, version)


def test_no_pickle_on_the_load_path():
    """The loaders read data only: no pickle, joblib or Keras model files; numpy with allow_pickle=False."""
    sources = [ROOT / "engine" / "bundles.py", *(ROOT / "engine" / "models").glob("*.py"),
               *(ROOT / "engine" / "topics").glob("*.py"), ROOT / "engine" / "synth" / "oracle.py"]
    for source in sources:
        text = source.read_text()
        for forbidden in ("import pickle", "joblib", "allow_pickle=True", "torch.load", "load_model(", ".pkl"):
            assert forbidden not in text, f"{source.name}: {forbidden}"
        loads = text.count("np.load(")
        assert text.count("allow_pickle=False") >= loads, f"{source.name}: np.load without allow_pickle=False"


# -- the manifest names its own folder ---------------------------------------------------------------
def test_a_manifest_naming_another_version_is_refused(settings, capsys):
    root = settings.artifacts_dir
    good = toy_bundle(root, version=V1)
    shutil.copytree(root / V1, root / V2)  # the copy's manifest still says V1
    with pytest.raises(BundleError, match=f"manifest says version '{V1}', but the bundle's folder is '{V2}'"):
        set_current(root, V2)
    with pytest.raises(BundleError, match="manifest says version"):
        load_bundle(root, V2)
    assert bundles_cmd.run(argparse.Namespace(action="validate", version=V2, json=True), settings, QUIET) == 1
    assert "manifest says version" in json.loads(capsys.readouterr().out)["problems"][0]
    assert current_version(root) == good


# -- signed manifests --------------------------------------------------------------------------------
def test_signed_bundles_refuse_tampering_missing_signatures_and_other_keys(tmp_path):
    key = "s3cret-signing-key"
    version = toy_bundle(tmp_path, key=key)
    bundle = tmp_path / version
    assert (bundle / SIGNATURE).is_file() and load_bundle(tmp_path, version, key=key).version == version
    assert validate_bundle(bundle, key="another-key") == [
        f"{SIGNATURE} does not match {MANIFEST} (changed after signing, or signed with another key)"]

    rewrite_manifest(bundle, lambda m: m.update(metrics={"models": {"hybrid": {"ndcg@10": 0.99}}}))
    with pytest.raises(BundleError, match="does not match"):
        load_bundle(tmp_path, version, key=key)
    (bundle / SIGNATURE).unlink()
    with pytest.raises(BundleError, match=f"{SIGNATURE} is missing"):
        set_current(tmp_path, version, key=key)
    unsigned = toy_bundle(tmp_path / "unsigned")
    assert validate_bundle(tmp_path / "unsigned" / unsigned, key=key)[0].startswith(f"{SIGNATURE} is missing")


def test_the_signing_key_comes_from_the_environment(settings, monkeypatch):
    monkeypatch.setenv("BUNDLE_SIGNING_KEY", "from-the-env")
    version = toy_bundle(settings.artifacts_dir, key=None)  # None: BUNDLE_SIGNING_KEY
    assert (settings.artifacts_dir / version / SIGNATURE).is_file()
    assert load_bundle(settings.artifacts_dir).version == version
    monkeypatch.setenv("BUNDLE_SIGNING_KEY", "rotated")
    with pytest.raises(BundleError, match="does not match"):
        load_bundle(settings.artifacts_dir)


# -- ingest never destroys by accident ---------------------------------------------------------------
@pytest.fixture
def loaded(tmp_path):
    store = Store(f"duckdb:///{tmp_path / 'store.duckdb'}")
    load_good(store, tmp_path)
    return store, snapshot(store)


def unchanged(store, before) -> bool:
    after = snapshot(store)
    return all(before[t].equals(after[t]) for t in before)


@pytest.mark.parametrize("kind, header", [
    ("hcps", "hcp_id,Entity Type Code,last_name,first_name,state\n"),
    ("interactions", "hcp_id,content_id,timestamp,channel,outcome\n"),
])
def test_a_header_only_file_in_replace_mode_is_refused(loaded, tmp_path, kind, header):
    store, before = loaded
    stored = store.count(kind)
    path = tmp_path / "empty.csv"
    path.write_text(header)
    with pytest.raises(ValidationError, match=f"replacing table {kind} \\({stored} rows\\) with 0 rows would delete "
                                              f"all {stored} stored rows; load with --allow-shrink"):
        ingest_file(store, kind, path)
    assert unchanged(store, before)
    ingest_file(store, kind, path, allow_shrink=True)  # said on purpose: done
    assert store.count(kind) == 0


def test_losing_more_than_the_allowed_share_is_refused(loaded, tmp_path):
    store, before = loaded
    path = tmp_path / "one.csv"
    path.write_text(reduced_hcps(reduced_hcps().splitlines()[1:2]))  # 1 of the 3 stored HCPs
    with pytest.raises(ValidationError, match="with 1 rows would drop 67% of them, more than the allowed 50%"):
        ingest_file(store, "hcps", path)
    assert unchanged(store, before)
    ingest_file(store, "hcps", path, max_shrink=0.7)
    assert store.count("hcps") == 1


def test_cli_refuses_an_empty_replace_unless_allow_shrink(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"duckdb:///{tmp_path / 'cli.duckdb'}")
    good, empty = tmp_path / "hcps.csv", tmp_path / "empty.csv"
    good.write_text(reduced_hcps())
    empty.write_text(reduced_hcps().splitlines()[0] + "\n")
    assert main(["ingest", "hcps", str(good), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["ingest", "hcps", str(empty), "--quiet"]) == 1
    assert "replacing table hcps (3 rows) with 0 rows would delete all 3 stored rows" in capsys.readouterr().err
    monkeypatch.setenv("INGEST_MAX_SHRINK", "1")  # the setting alone never allows emptying a table
    assert main(["ingest", "hcps", str(empty), "--quiet"]) == 1
    assert main(["ingest", "hcps", str(empty), "--allow-shrink", "--quiet"]) == 0
    assert "table now 0 rows" in capsys.readouterr().out


def test_a_20000_character_value_is_refused(loaded, tmp_path):
    store, before = loaded
    path = tmp_path / "long.csv"
    rows = reduced_hcps().splitlines()
    rows[2] = rows[2].replace(",TX,", "," + "T" * 20_000 + ",")
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(ValidationError, match="long.csv: 1 error\\(s\\): row 3, column 'state': longer than 100 "
                                              "characters \\(20,000\\)"):
        ingest_file(store, "hcps", path)
    assert unchanged(store, before)


@pytest.mark.parametrize("stamp", ["2099-01-01 10:00:00", "0001-01-01", "1899-12-31T23:59:59"])
def test_implausible_timestamps_are_refused(loaded, tmp_path, stamp):
    store, before = loaded
    path = tmp_path / "crm.csv"
    path.write_text(f"hcp_id,content_id,timestamp,channel,outcome\n{NPI_A},PMID101,2024-01-02,email,opened\n"
                    f"{NPI_A},PMID101,{stamp},email,opened\n")
    with pytest.raises(ValidationError, match="row 3, column 'timestamp': timestamp out of range \\(expected "
                                              "1900-01-01 to "):
        ingest_file(store, "interactions", path)
    assert unchanged(store, before)


@pytest.mark.parametrize("dwell, rule", [("inf", "not a finite number"), ("-inf", "not a finite number"),
                                         ("nan", "bad number")])
def test_non_finite_numbers_are_refused(loaded, tmp_path, dwell, rule):
    store, before = loaded
    path = tmp_path / "crm.csv"
    path.write_text(f"hcp_id,content_id,timestamp,channel,outcome,dwell_seconds\n"
                    f"{NPI_A},PMID101,2024-01-02,email,opened,{dwell}\n")
    with pytest.raises(ValidationError, match=f"row 2, column 'dwell_seconds': {rule}"):
        ingest_file(store, "interactions", path)
    assert unchanged(store, before)


def test_control_characters_are_refused(loaded, tmp_path):
    store, before = loaded
    path = tmp_path / "nul.csv"
    path.write_bytes(reduced_hcps().replace("BOSTON", "BOS\x00TON").encode())
    with pytest.raises(ValidationError, match="row 2, column 'city': control character"):
        ingest_file(store, "hcps", path)
    assert unchanged(store, before)


@pytest.mark.parametrize("text, expected", [
    ("hcp_id,last_name,last_name\n1234567893,A,B\n", "row 1, column 'last_name': duplicate column name in header"),
    ("interaction_id,hcp_id,content_id,timestamp,outcome\n12345678901234567890,1234567893,X,2024-01-01,opened\n",
     "row 2, column 'interaction_id': integer out of range"),
])
def test_files_that_printed_a_traceback_end_in_a_one_line_error(tmp_path, text, expected):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    kind = "hcps" if "last_name" in text else "interactions"
    env = {"DATABASE_URL": f"duckdb:///{tmp_path / 'cli.duckdb'}", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "engine", "ingest", kind, str(path), "--quiet"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert expected in done.stderr and done.stderr.strip().splitlines()[-1].startswith("error: bad.csv: ")


# -- CSV export ---------------------------------------------------------------------------------------
def test_target_list_csv_neutralises_cells_after_separators(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path)
    store = Store(settings.database_url)
    hcp_ids = store.read("hcps")["hcp_id"].head(3).tolist()
    for hcp_id, (first, city) in zip(hcp_ids, [(";=cmd|' /C calc'!A0", "|=2+5"), (" =1+1", "\t=1"),
                                               (",;@SUM(A1)", "Boston")]):
        store.execute("UPDATE hcps SET first_name = ?, city = ? WHERE hcp_id = ?", [first, city, hcp_id])
    table_bundle(settings, version=V1)
    text = NBAService.from_settings(settings).target_list_csv(n=1000)
    rows = {r["NPI"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows[hcp_ids[0]]["City"] == "'|=2+5" and rows[hcp_ids[1]]["City"] == "'\t=1"
    for hcp_id in hcp_ids:
        assert rows[hcp_id]["Name"].startswith("'"), rows[hcp_id]["Name"]
    assert rows[hcp_ids[2]]["City"] == "Boston"
