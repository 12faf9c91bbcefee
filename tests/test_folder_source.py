"""The folder format for one's own data (``data.source: folder``): still images or clips, a
stimulus table, one response array per subject, optional regions and masks. Every mismatch is an
error naming the file; a tiny training (about 6 s) on still images scores on test."""

import json
import shutil

import h5py
import nibabel as nib
import numpy as np
import pytest
import scipy.stats
from PIL import Image

import predict
from datamodules.sources.base import DataLayoutError, Selection
from datamodules.sources.folder import FolderSource
from datamodules.sources.registry import detect_source
from datamodules.video import read_clip
from tests.helpers import fit_tiny

N_TRAIN, N_TEST, REPS, VOXELS = 20, 8, 3, 30


def write_folder(root, seed=0, regions=True):
    """Still images (flat colour with a bar) and responses linear in the image's mean colour."""
    rng = np.random.default_rng(seed)
    (root / "stimuli").mkdir(parents=True)
    (root / "responses").mkdir()
    names, colours = [], []
    for i in range(N_TRAIN + N_TEST):
        image = np.broadcast_to(rng.uniform(0, 255, 3), (24, 24, 3)).astype(np.uint8).copy()
        image[: int(rng.integers(4, 20))] = 255 - image[0, 0]
        names.append(f"im{i:02d}.{'png' if i % 2 else 'jpg'}")
        Image.fromarray(image).save(root / "stimuli" / names[-1], quality=95)
        colours.append(image.reshape(-1, 3).mean(0) / 255)
    signal = np.array(colours) @ rng.normal(size=(3, VOXELS))
    responses = signal[:, None, :] + 0.3 * rng.normal(size=(len(names), REPS, VOXELS))
    responses[2, 1, :4] = np.nan  # a missing repetition
    responses[N_TRAIN + 1, 0, 5:9] = np.nan
    # The table lists test rows between train rows: the release puts train rows first.
    order = list(range(N_TRAIN - 2)) + [N_TRAIN, N_TRAIN - 2, N_TRAIN - 1] + list(range(N_TRAIN + 1, len(names)))
    (root / "stimuli.csv").write_text("name,split\n" + "".join(
        f"{names[i]},{'train' if i < N_TRAIN else 'test'}\n" for i in order))
    np.save(root / "responses" / "s1.npy", responses[order])
    with h5py.File(root / "responses" / "s2.h5", "w") as f:
        f["responses"] = responses[order] * 2
    if regions:
        for subject in ("s1", "s2"):
            (root / "regions" / subject).mkdir(parents=True)
            np.save(root / "regions" / subject / "early.npy", np.arange(0, 12))
            np.save(root / "regions" / subject / "late.npy", np.arange(12, VOXELS)[::-1].copy())
    return names, responses


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "mine"
    names, responses = write_folder(root)
    return root, names, responses


def test_detected_and_read_in_train_then_test_order_with_regions(folder):
    root, names, responses = folder
    assert detect_source(root) is FolderSource
    release = FolderSource(root).read(Selection())
    assert [p.name for p in release.video_paths] == names  # train rows first, each split in table order
    assert release.n_train == N_TRAIN and release.n_test == N_TEST and release.has_test_responses
    assert release.voxel_counts == {"s1": {"early": 12, "late": VOXELS - 12}, "s2": {"early": 12, "late": VOXELS - 12}}
    late = release.recordings["s1"]["late"]
    np.testing.assert_array_equal(late.train, responses[:N_TRAIN][:, :, 12:][:, :, ::-1].astype(np.float32))
    np.testing.assert_array_equal(release.recordings["s2"]["early"].test,
                                  (responses[N_TRAIN:, :, :12] * 2).astype(np.float32))
    whole = FolderSource(root).read(Selection(track="full", subjects=("s1",)))
    assert whole.voxel_counts == {"s1": {"WB": VOXELS}}


def test_a_still_image_is_a_clip_of_one_frame_repeated(folder):
    root, names, _ = folder
    clip = read_clip(root / "stimuli" / names[1], num_frames=3, size=12)
    assert clip.shape == (3, 3, 12, 12) and clip.dtype == np.uint8
    assert (clip == clip[0]).all()


def test_a_nifti_mask_gives_the_whole_brain_its_volume(folder):
    root, _, _ = folder
    shutil.rmtree(root / "regions")
    (root / "masks").mkdir()
    mask = np.zeros((4, 4, 4), np.uint8)
    mask.flat[:VOXELS] = 1
    nib.save(nib.Nifti1Image(mask, np.eye(4)), root / "masks" / "s1.nii.gz")
    release = FolderSource(root).read(Selection())
    assert release.voxel_counts["s1"] == {"WB": VOXELS}
    np.testing.assert_array_equal(release.voxel_masks["s1"], mask != 0)
    mask.flat[VOXELS] = 1
    nib.save(nib.Nifti1Image(mask, np.eye(4)), root / "masks" / "s1.nii.gz")
    with pytest.raises(DataLayoutError, match=f"s1.nii.gz: .*{VOXELS + 1} nonzero voxels.*{VOXELS} columns"):
        FolderSource(root).read(Selection())


def _refused(root, match, **selection):
    with pytest.raises(DataLayoutError, match=match) as err:
        FolderSource(root).read(Selection(**selection))
    assert "\n" not in str(err.value)


def test_every_mismatch_names_the_file(folder):
    root, names, responses = folder
    table = (root / "stimuli.csv").read_text()
    (root / "stimuli" / names[0]).rename(root / "stray.png")
    _refused(root, f"stimuli/{names[0]}: stimulus file not found")
    (root / "stray.png").rename(root / "stimuli" / names[0])
    shutil.copy(root / "stimuli" / names[1], root / "stimuli" / "extra.png")
    _refused(root, "extra.png: not listed in stimuli.csv")
    (root / "stimuli" / "extra.png").unlink()
    np.save(root / "responses" / "s1.npy", responses[:-1])
    _refused(root, f"s1.npy: {N_TRAIN + N_TEST - 1} rows, but stimuli.csv lists {N_TRAIN + N_TEST} stimuli")
    np.save(root / "responses" / "s1.npy", responses[:, 0])
    _refused(root, r"s1.npy: responses are float64 of shape \(28, 30\); expected floats \(n_stimuli, n_repetitions")
    np.save(root / "responses" / "s1.npy", responses)
    np.save(root / "regions" / "s1" / "early.npy", np.array([0, VOXELS]))
    _refused(root, f"regions/s1/early.npy: column indices 0..{VOXELS}, but the responses have {VOXELS} columns")
    np.save(root / "regions" / "s1" / "early.npy", np.arange(3))
    _refused(root, r"mine/regions: regions \['V1'\] not found; available: \['early', 'late', 'WB'\]", rois=("V1",))
    (root / "stimuli.csv").write_text(table.replace(",test\n", ",val\n", 1))
    _refused(root, r"stimuli.csv, line \d+: expected '<file name>,train' or '<file name>,test'")
    (root / "stimuli.csv").write_text(table + f"{names[0]},train\n")
    _refused(root, f"stimuli.csv: stimulus '{names[0]}' is listed twice")
    (root / "stimuli.csv").write_text("file,set\n")
    _refused(root, "stimuli.csv: expected the header 'name,split'")


def test_unknown_and_partial_folders(tmp_path):
    (tmp_path / "stimuli.csv").write_text("name,split\n")
    _refused(tmp_path, "no stimulus has split 'train'")


# ----------------------------------------------------------------------------------- a real test score
def test_trained_on_still_images_predict_score_matches_an_independent_score(tmp_path, capsys):
    root = tmp_path / "mine"
    _, responses = write_folder(root)
    cli = fit_tiny(root, tmp_path, "--trainer.max_epochs", "1", "--data.num_frames", "2")
    out = tmp_path / "out"
    predict.main(["--ckpt_path", cli.trainer.log_dir, "--data.root", str(root), "--output_dir", str(out),
                  "--score", "--num_workers", "0"])
    scores = json.loads((out / "test_scores.json").read_text())
    assert "over 8 test videos, 2 subjects, 2 regions" in capsys.readouterr().out
    columns = {"early": np.arange(0, 12), "late": np.arange(12, VOXELS)[::-1]}
    per_group = []
    for subject, scale in (("s1", 1), ("s2", 2)):
        for roi, cols in columns.items():
            pred = np.load(out / "predictions" / subject / f"{roi}.npy")
            test = responses[N_TRAIN:][:, :, cols] * scale
            target = np.nanmean(test, axis=1)
            r = np.array([scipy.stats.pearsonr(pred[:, v], target[:, v])[0] for v in range(len(cols))])
            # Noise ceiling of the mean of the repetitions present (variance components), per voxel.
            ceiling = []
            for v in range(len(cols)):
                rows = [x[~np.isnan(x)] for x in test[:, :, v]]
                k = np.array([x.size for x in rows], float)
                sigma2 = sum(((x - x.mean()) ** 2).sum() for x in rows) / (k - 1).sum()
                means = np.array([x.mean() for x in rows])
                ceiling.append(1 - sigma2 * np.mean(1 / k) / np.var(means, ddof=1) * (N_TEST - 3) / (N_TEST - 1))
            ceiling = np.array(ceiling)
            ok = ceiling > 0
            score = np.mean(r[ok] / np.sqrt(ceiling[ok]))
            assert scores["groups"][f"{subject}/{roi}"]["score"] == pytest.approx(score, abs=1e-5)
            assert scores["groups"][f"{subject}/{roi}"]["r"] == pytest.approx(r.mean(), abs=1e-5)
            per_group.append(score)
    assert scores["overall"]["score"] == pytest.approx(np.mean(per_group), abs=1e-5)
