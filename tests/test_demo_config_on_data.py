"""``train.py fit --config configs/demo.yaml --data.root ROOT``: the demo's ``data.synthetic`` never
generates into a folder that holds data. A known layout is read as it is; anything else is refused
naming what the folder holds and the layouts the tool reads; an empty or missing folder is where
the simulator's release is generated."""

import dataclasses
import subprocess
import sys

import pytest

import simulator.ensure as ensure
import train
from datamodules.sources.base import DataLayoutError
from simulator import TINY_CONFIG, generate_dataset
from tests.helpers import FAST, REPO


@pytest.fixture(scope="module")
def bmd_root(tmp_path_factory):
    config = dataclasses.replace(TINY_CONFIG, n_train=10, n_test=4, voxel_scale=0.1, layout="bmd")
    return generate_dataset(tmp_path_factory.mktemp("demo_bmd") / "release", config, progress=False)


@pytest.fixture
def no_generation(monkeypatch):
    def refuse(root, config):
        raise AssertionError(f"generated into {root}")

    monkeypatch.setattr(ensure, "generate_dataset", refuse)


def test_a_bmd_folder_is_read_not_generated_into(bmd_root, tmp_path, no_generation):
    before = sorted(p.relative_to(bmd_root) for p in bmd_root.rglob("*"))
    cli = train.main(["--config", str(REPO / "configs/demo.yaml"), *FAST, "--data.root", str(bmd_root),
                      "--data.cache_dir", str(tmp_path / "cache"),
                      "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")], run=False)
    assert cli.datamodule.hparams.synthetic == "demo"  # the demo's setting, still set
    assert cli.datamodule.release.source == "bmd"
    assert list(cli.model.hparams.voxel_counts["sub-01"]) == ["V1", "V2", "V3", "V4", "LOC", "EBA", "FFA",
                                                              "STS", "PPA"]
    assert sorted(p.relative_to(bmd_root) for p in bmd_root.rglob("*")) == before


def test_the_2021_layout_is_read_not_generated_into(tiny_root, no_generation):
    ensure.ensure_release(tiny_root, "demo")  # returns: nothing generated


def test_a_folder_of_something_else_is_refused_naming_it_and_the_layouts(tmp_path, no_generation):
    root = tmp_path / "mine"
    (root / "images").mkdir(parents=True)
    (root / "notes.txt").write_text("x")
    with pytest.raises(DataLayoutError) as err:
        ensure.ensure_release(root, "demo")
    message = str(err.value)
    assert "\n" not in message and "it holds images/, notes.txt" in message
    assert "algonauts2021 (" in message and "bmd (" in message
    assert sorted(p.name for p in root.iterdir()) == ["images", "notes.txt"]  # nothing written


def test_an_empty_or_missing_folder_is_generated_into(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(ensure, "generate_dataset", lambda root, config: made.append(root))
    (tmp_path / "empty").mkdir()
    ensure.ensure_release(tmp_path / "empty", "tiny")
    ensure.ensure_release(tmp_path / "missing", "tiny")
    assert made == [tmp_path / "empty", tmp_path / "missing"]


@pytest.mark.slow
def test_train_py_on_an_unknown_folder_is_one_error_line(tmp_path):
    root = tmp_path / "scans_and_notes"
    (root / "scans").mkdir(parents=True)
    (root / "notes.txt").write_text("x")
    done = subprocess.run([sys.executable, str(REPO / "train.py"), "fit", "--config", str(REPO / "configs/demo.yaml"),
                           "--data.root", str(root), "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {root}: no data layout this tool reads")
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt", "scans"]  # nothing generated into it
