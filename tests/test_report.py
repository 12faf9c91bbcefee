"""Reports: the validation dump is right, the figures and HTML render, brain maps land in the volume."""

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

from export.checkpoint import load_encoding_model
from reports.brain_maps import bounding_box, r_volumes, slice_positions, to_volume
from reports.build import build_report
from reports.figures import extreme_voxels
from reports.runs import load_run
from run_folder.contract import RunReadError
from tests.helpers import REPO, fit_tiny

SHORT = ("--trainer.max_epochs", "2", "--trainer.limit_train_batches", "1")


@pytest.fixture(scope="module")
def mini_run(tiny_root, tmp_path_factory):
    cli = fit_tiny(tiny_root, tmp_path_factory.mktemp("mini"), *SHORT)
    return cli, Path(cli.trainer.log_dir)


@pytest.fixture(scope="module")
def full_run(tiny_root, tmp_path_factory):
    cli = fit_tiny(tiny_root, tmp_path_factory.mktemp("full"), *SHORT, "--data.track", "full")
    return cli, Path(cli.trainer.log_dir)


def test_dump_holds_the_best_checkpoints_validation(mini_run):
    cli, run_dir = mini_run
    dump = np.load(run_dir / "val_predictions.npz")
    summary = json.loads((run_dir / "summary.json").read_text())
    data = cli.datamodule
    assert dump["video_index"].tolist() == list(data.val_indices)
    np.testing.assert_array_equal(dump["targets"], data.mean_responses[data.val_indices])
    assert int(dump["epoch"]) == summary["best_epoch"]
    assert float(dump["score"]) == pytest.approx(summary["best"]["score"]["overall"], abs=1e-6)
    # The predictions are the best checkpoint's own forward pass on the validation videos.
    model, _ = load_encoding_model(summary["best_checkpoint"])
    with torch.no_grad():
        preds = torch.cat([model(b["video"]) for b in data.evaluation_dataloader(data.val_indices)]).numpy()
    np.testing.assert_allclose(dump["predictions"], preds, rtol=1e-4, atol=1e-5)
    # r is each voxel's Pearson r (numpy's, independently) between the saved predictions and targets.
    expected = [np.corrcoef(dump["predictions"][:, v], dump["targets"][:, v])[0, 1]
                for v in range(dump["r"].shape[0])]
    np.testing.assert_allclose(dump["r"], np.nan_to_num(expected), atol=1e-4)
    np.testing.assert_allclose(dump["noise_ceiling"], data.noise_ceiling("val").numpy())
    assert dump["voxel_counts"].sum() == dump["predictions"].shape[1] == data.target_layout.n_voxels
    assert [f"{s}/{r}" for s, r in zip(dump["subjects"], dump["rois"])] == [
        g.name for g in data.target_layout.groups]
    assert not list(run_dir.glob(".*.tmp"))  # the atomic write left no temporary file


def embedded_images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_report_of_two_runs_is_one_self_contained_page(mini_run, full_run, tmp_path):
    (_, mini_dir), (_, full_dir) = mini_run, full_run
    path = build_report([mini_dir, full_dir], tmp_path / "report", progress=False)
    page = path.read_text()
    images = embedded_images(page)
    assert len(images) == len(re.findall(r"<img ", page)) and not re.search(r'src="(?!data:)', page)
    pngs = sorted(p.name for p in (tmp_path / "report").glob("*.png"))
    assert len(images) == len(pngs)  # every figure written is embedded, nothing else
    assert all(img.startswith(b"\x89PNG") for img in images)
    assert {"scores.png", "voxel_r.png"} <= set(pngs)
    assert sum(name.startswith("voxels_") for name in pngs) == 2
    assert sum(name.startswith("brain_") for name in pngs) == 2  # the full-track run's two subjects
    for name in pngs:
        height, width = matplotlib.image.imread(tmp_path / "report" / name).shape[:2]
        assert height > 100 and width > 100
    best = json.loads((mini_dir / "summary.json").read_text())["best"]["score"]["overall"]
    assert f"{best:.3f}" in page and "WB" in page and "V1" in page


def test_brain_map_puts_each_voxels_r_at_its_mask_position(full_run):
    _, run_dir = full_run
    preds = load_run(run_dir).predictions
    volumes = r_volumes(preds)
    assert set(volumes) == {"sub01", "sub02"}
    for subject, roi, start, stop in preds.groups:
        mask = preds.voxel_masks[subject]
        coords = np.argwhere(mask)  # C order, as the release lists whole-brain voxels
        volume = volumes[subject]
        np.testing.assert_array_equal(volume[tuple(coords.T)], preds.r[start:stop])
        assert np.isnan(volume[~mask]).all()


def test_nifti_volume_round_trips(full_run, tmp_path):
    nib = pytest.importorskip("nibabel")
    _, run_dir = full_run
    build_report([run_dir], tmp_path, progress=False)
    preds = load_run(run_dir).predictions
    image = nib.load(str(tmp_path / f"r_{run_dir.parent.name}_{run_dir.name}_sub02.nii.gz"))
    np.testing.assert_array_equal(np.asarray(image.dataobj), r_volumes(preds)["sub02"], strict=False)


def test_extreme_voxels_and_volume_checks():
    preds = type("P", (), {"r": np.array([0.1, np.nan, 0.9, -0.3, 0.5])})()
    best, worst = extreme_voxels(preds, 2)
    assert best.tolist() == [2, 4] and worst.tolist() == [3, 0]
    with pytest.raises(ValueError, match="has 2 voxels but there are 3 values"):
        to_volume(np.zeros(3), np.eye(2, dtype=bool)[:, :, None].repeat(1, axis=2))
    mask = np.zeros((5, 6, 7), bool)
    mask[1:4, 2, 3:6] = True
    assert slice_positions(mask, 0, 1) == [2] and slice_positions(mask, 1, 3) == [2]
    assert bounding_box(mask) == (slice(0, 5), slice(0, 5), slice(1, 7))
    sparse = np.zeros((20, 4, 4), bool)
    sparse[0, 0, 0] = True  # one stray voxel far from the rest: slices still go where the voxels are
    sparse[10:13] = True
    assert slice_positions(sparse, 0, 1) == [11]


@pytest.mark.slow
def test_report_cli_names_the_missing_summary(tmp_path):
    (tmp_path / "run").mkdir()
    done = subprocess.run([sys.executable, "report.py", str(tmp_path / "run"), "--out", str(tmp_path / "o")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "summary.json: not found" in done.stderr
    with pytest.raises(RunReadError, match="run folder not found"):
        load_run(tmp_path / "nowhere")


def test_notebook_parses_and_calls_only_existing_functions():
    import importlib

    notebook = json.loads((REPO / "notebooks/explore_runs.ipynb").read_text())
    assert notebook["nbformat"] == 4
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    imports = re.findall(r"^from (reports\.\w+) import (.+)$", code, flags=re.M)
    assert imports
    for module, names in imports:
        mod = importlib.import_module(module)
        for name in names.split(","):
            assert hasattr(mod, name.strip()), f"{module}.{name.strip()}"
    compile(re.sub(r"^%.*$", "", code, flags=re.M), "explore_runs.ipynb", "exec")  # IPython magics aside


@pytest.mark.slow
def test_ddp_dump_gathers_every_rank_rows_to_one_file(mini_run, tiny_root, tmp_path):
    _, run_dir = mini_run
    dumps = {}
    for devices in (1, 2):
        out = tmp_path / f"d{devices}"
        subprocess.run([sys.executable, str(REPO / "tests/ddp_validate.py"), str(run_dir / "checkpoints/last.ckpt"),
                        str(tiny_root), str(devices), str(out / "metrics.json"), str(out)],
                       check=True, cwd=tmp_path, timeout=300)
        dumps[devices] = np.load(out / "val_predictions.npz")
    assert dumps[2]["video_index"].tolist() == dumps[1]["video_index"].tolist() == list(range(5, 12))
    # Each rank's forward runs on a batch of another size than the single process's: float32 convolutions
    # then round differently (measured up to 1.8e-6 on values near 0 with torch 2.14 on CPU).
    for key in ("predictions", "targets", "r"):
        np.testing.assert_allclose(dumps[2][key], dumps[1][key], rtol=1e-5, atol=1e-5, err_msg=key)


def test_report_shows_the_ridge_baseline_and_explains_its_numbers(mini_run, tmp_path):
    _, run_dir = mini_run
    summary = json.loads((run_dir / "summary.json").read_text())
    page = build_report([run_dir], tmp_path / "report", progress=False).read_text()
    ridge = summary["ridge"]["score"]["overall"]
    assert "ridge baseline val/score" in page and "gain over ridge" in page
    row = re.search(r"<tr><td>[^<]*version_\d+</td>(.*?)</tr>", page).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert cells[:3] == [f"{summary['best']['score']['overall']:.3f}", f"{ridge:.3f}",
                         f"{summary['gain_over_ridge']:.3f}"]
    # What "unreliable voxels" and normalised r above 1 mean, in words on the page.
    assert "Unreliable voxels</b>: voxels whose estimated noise ceiling is not positive" in page
    assert "Values above 1 do not mean a model beats" in page


def test_histogram_legends_sit_below_the_bars(mini_run):
    import matplotlib.pyplot as plt

    from reports.figures import voxel_r_histogram

    _, run_dir = mini_run
    fig = voxel_r_histogram([load_run(run_dir)])
    fig.canvas.draw()
    for ax in fig.axes:
        legend, plot_area = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert legend.y1 <= plot_area.y0  # entirely under the axes, covering no bar
    plt.close(fig)
