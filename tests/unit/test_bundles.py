"""Bundles: round trip, checksums, crash safety of the `current` pointer, the `bundles` command."""
import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from engine.bundles import (BundleError, allow_component_class, current_version, list_versions, load_bundle,
                            load_serving_bundle, set_current, validate_bundle, write_bundle)
from engine.commands import bundles as bundles_cmd
from engine.config import CHANNELS
from engine.progress import QUIET


@allow_component_class
class ArrayComponent:
    """A component holding one array, saved as .npy."""

    def __init__(self, values):
        self.values = np.asarray(values)

    def save(self, path):
        np.save(Path(path) / "values.npy", self.values)

    @classmethod
    def load(cls, path):
        return cls(np.load(Path(path) / "values.npy", allow_pickle=False))


@allow_component_class
class ToyScorer(ArrayComponent):
    """A scorer over ``len(values)`` contents: score = values, engagement = sigmoid(values) on every channel."""

    content_ids = property(lambda self: [f"C{i}" for i in range(len(self.values))])

    def score(self, hcp_idx):
        p = 1 / (1 + np.exp(-self.values))
        return SimpleNamespace(score=self.values.astype(float), engagement=np.repeat(p[:, None], len(CHANNELS), 1))


@allow_component_class
class CrashingComponent(ArrayComponent):
    def save(self, path):
        (Path(path) / "partial.bin").write_bytes(b"half")
        raise OSError("disk full")


@allow_component_class
class UnloadableComponent(ArrayComponent):
    @classmethod
    def load(cls, path):
        raise RuntimeError("corrupt weights")


@allow_component_class
class CountedComponent(ArrayComponent):
    """Counts its loads: what a web worker must not load (a Keras model, the training data)."""

    loads = 0

    @classmethod
    def load(cls, path):
        cls.loads += 1
        return super().load(path)


def _write(root, values=(0.5, -1.0, 2.0), **extra):
    return write_bundle(root, {"scorer": ToyScorer(values), "table": ArrayComponent(np.arange(6).reshape(2, 3))},
                        {"protocol": "temporal", "metrics": {"models": {"hybrid": {"ndcg@10": np.float64(0.25)}}},
                         **extra})


def test_round_trip(tmp_path):
    version = _write(tmp_path, data_fingerprint="abc")
    assert current_version(tmp_path) == version and list_versions(tmp_path) == [version]
    assert validate_bundle(tmp_path / version) == []
    bundle = load_bundle(tmp_path)
    assert bundle.version == version and bundle.manifest["data_fingerprint"] == "abc"
    assert bundle.metrics["models"]["hybrid"]["ndcg@10"] == 0.25
    assert np.array_equal(bundle.components["table"].values, np.arange(6).reshape(2, 3))
    assert np.array_equal(bundle.scorer.values, [0.5, -1.0, 2.0])
    assert list(bundle.content_ids) == ["C0", "C1", "C2"]
    manifest = json.loads((tmp_path / version / "manifest.json").read_text())
    assert set(manifest["files"]) == {"scorer/values.npy", "table/values.npy"}
    assert manifest["components"]["table"]["class"].endswith(":ArrayComponent")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_serving_bundle_loads_only_the_serving_components(tmp_path, monkeypatch):
    version = write_bundle(tmp_path, {"scorer": ToyScorer([0.5, 1.0]), "model": CountedComponent([1])},
                           serving=["scorer"])
    assert json.loads((tmp_path / version / "manifest.json").read_text())["serving"] == ["scorer"]
    monkeypatch.setattr(CountedComponent, "loads", 0)
    served = load_serving_bundle(tmp_path)
    assert served.version == version and list(served.components) == ["scorer"] and CountedComponent.loads == 0
    assert list(served.content_ids) == ["C0", "C1"]
    assert set(load_bundle(tmp_path).components) == {"scorer", "model"} and CountedComponent.loads == 1
    # every file is still checked, served or not
    np.save(tmp_path / version / "model" / "values.npy", np.zeros(1))
    with pytest.raises(BundleError, match="model/values.npy was modified"):
        load_serving_bundle(tmp_path)


def test_serving_names_must_be_components(tmp_path):
    with pytest.raises(BundleError, match=r"serving names \['forecaster'\]"):
        write_bundle(tmp_path, {"scorer": ToyScorer([1.0])}, serving=["scorer", "forecaster"])
    version = write_bundle(tmp_path, {"scorer": ToyScorer([1.0])})
    manifest_path = tmp_path / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["serving"] == ["scorer"]  # default: every component
    manifest_path.write_text(json.dumps({**manifest, "serving": ["scorer", "nope"]}))
    assert validate_bundle(tmp_path / version) == ["serving component 'nope' is not a component of the bundle"]
    manifest_path.write_text(json.dumps({**manifest, "serving": "scorer"}))
    with pytest.raises(BundleError, match="'serving' is not a list of component names"):
        load_serving_bundle(tmp_path)


def test_a_bundle_without_a_serving_list_serves_the_legacy_components(tmp_path, monkeypatch):
    version = write_bundle(tmp_path, {"scorer": ToyScorer([1.0]), "hybrid": CountedComponent([1])})
    manifest_path = tmp_path / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["serving"]  # as written before the list existed
    manifest_path.write_text(json.dumps(manifest))
    monkeypatch.setattr(CountedComponent, "loads", 0)
    assert list(load_serving_bundle(tmp_path).components) == ["scorer"] and CountedComponent.loads == 0


def test_tampered_file_fails_validation(tmp_path):
    version = _write(tmp_path)
    np.save(tmp_path / version / "table" / "values.npy", np.zeros(6))
    problems = validate_bundle(tmp_path / version)
    assert problems == ["file table/values.npy was modified (sha256 mismatch)"]
    with pytest.raises(BundleError, match="table/values.npy was modified"):
        load_bundle(tmp_path, version)


def test_missing_and_unlisted_files_fail_validation(tmp_path):
    version = _write(tmp_path)
    (tmp_path / version / "scorer" / "values.npy").unlink()
    (tmp_path / version / "table" / "extra.txt").write_text("x")
    problems = validate_bundle(tmp_path / version)
    assert "file scorer/values.npy is missing" in problems
    assert "file table/extra.txt is not listed in the manifest" in problems


def test_component_that_fails_to_load_is_reported(tmp_path):
    with pytest.raises(BundleError, match="'broken'.*failed to load: RuntimeError: corrupt weights"):
        write_bundle(tmp_path, {"broken": UnloadableComponent([1])})
    assert current_version(tmp_path) is None and list_versions(tmp_path) == []


def test_failing_smoke_prediction_is_refused(tmp_path):
    good = _write(tmp_path)
    with pytest.raises(BundleError, match="smoke prediction: score has non-finite values"):
        _write(tmp_path, values=(0.1, np.nan))
    assert current_version(tmp_path) == good and list_versions(tmp_path) == [good]


def test_crash_while_saving_keeps_the_old_current(tmp_path):
    old = _write(tmp_path)
    with pytest.raises(BundleError, match="'table' failed to save: OSError: disk full"):
        write_bundle(tmp_path, {"scorer": ToyScorer([1.0]), "table": CrashingComponent([1])})
    assert current_version(tmp_path) == old and list_versions(tmp_path) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([old, "current"])
    assert validate_bundle(tmp_path / old) == []


def test_set_current_validates_and_moves_the_pointer(tmp_path):
    first = _write(tmp_path)
    second = _write(tmp_path)
    assert current_version(tmp_path) == second
    set_current(tmp_path, first)
    assert current_version(tmp_path) == first and load_bundle(tmp_path).version == first
    np.save(tmp_path / second / "table" / "values.npy", np.zeros(1))
    with pytest.raises(BundleError, match="invalid"):
        set_current(tmp_path, second)
    with pytest.raises(BundleError, match="not found"):
        set_current(tmp_path, "20990101-000000-abcdef")
    assert current_version(tmp_path) == first


def test_load_without_any_bundle(tmp_path):
    with pytest.raises(BundleError, match="no current bundle"):
        load_bundle(tmp_path)


def test_bundles_command(settings, capsys):
    root = settings.artifacts_dir
    first, second = _write(root), _write(root)
    args = argparse.Namespace(action="list", version=None, json=True)
    assert bundles_cmd.run(args, settings, QUIET) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["current"] == second and [v["version"] for v in listed["versions"]] == [second, first]
    assert listed["versions"][0]["hybrid_ndcg@10"] == 0.25
    assert bundles_cmd.run(argparse.Namespace(action="set-current", version=first, json=True), settings, QUIET) == 0
    assert json.loads(capsys.readouterr().out) == {"previous": second, "current": first}
    (root / second / "table" / "values.npy").unlink()
    assert bundles_cmd.run(argparse.Namespace(action="validate", version=second, json=True), settings, QUIET) == 1
    assert json.loads(capsys.readouterr().out)["problems"] == ["file table/values.npy is missing"]
