"""An ensemble's members read back with their validation predictions, checked, weighted and scored.

Each member is a checkpoint and the ``val_predictions.npz`` its run wrote at its best validation
(:mod:`run_folder.validation_dump`): predictions, targets and noise ceilings of its
validation videos. :func:`plan_ensemble` turns them into per-voxel weights
(:mod:`export.ensemble_weights`) and an honest estimate of the ensemble's score.

Which videos may choose the weights (the rule :func:`check_members` enforces)
------------------------------------------------------------------------------
A member's validation r says how well it predicts videos it never trained on only if its
validation videos are not among its training videos; a weight chosen on a video that *any* member
trained on favours that member for having seen it. With ``V_m`` the validation videos in member
``m``'s file and ``T_m`` its training videos (those the file records as ``train_index``, together
with those the checkpoint's ``data.split`` settings give, recomputed with the release's video count):

1. ``V_m`` and ``T_m`` overlap: an error (the file belongs to another run, split or release).
2. Every ``V_m`` is the same set (members of one holdout split or one fold: the ``shared`` case):
   the weights are chosen on those videos, which no member trained on, and the estimate is
   cross-fitted on them (weights from part of the videos, scored on the rest, rotated).
3. The ``V_m`` are pairwise disjoint (the folds of one k-fold split: the ``kfold`` case): each
   member is weighted by its r on its own fold. No video is held out by every member (each was
   trained on by all but one), so the ensemble itself cannot be scored on held-out videos; the
   estimate reported is the out-of-fold score (each fold scored by the member that held it out,
   averaged over folds), the K-fold estimate of one fold model, which the ensemble usually exceeds.
4. Otherwise the sets overlap in part, so some member validates on videos another trained on.
   Only the videos every member held out can choose the weights: with at least
   :data:`MIN_SHARED_VIDEOS` of them they are used (a warning says so and how many), with fewer
   it is an error naming the two members.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datamodules.rebuild import datamodule_from_checkpoint
from export import ensemble_weights as ew
from run_folder.contract import PREDICTIONS_FILE, RunFolder, RunReadError, read_predictions
from scoring.layout import TargetLayout

MIN_SHARED_VIDEOS = 8


class EnsembleInputError(ValueError):
    """Members that cannot be weighted together; the message names the member and what is wrong."""


@dataclass
class MemberValidation:
    """One member's best validation, as its run saved it.

    Attributes
    ----------
    name : the checkpoint path (for messages)
    path : the ``val_predictions.npz`` read
    predictions, targets : float64 (n_val_videos, n_voxels)
    ceiling : float64 (n_voxels,), NaN where the split had none
    video_index : int64 (n_val_videos,), positions in the release, sorted
    train_index : int64 (n_train_videos,) or None where it could not be known
    score : the run's logged best ``val/score``
    """

    name: str
    path: Path
    predictions: np.ndarray
    targets: np.ndarray
    ceiling: np.ndarray
    video_index: np.ndarray
    train_index: np.ndarray | None
    score: float


def validation_file(checkpoint: str | Path, given: str | Path | None = None) -> Path:
    """The ``val_predictions.npz`` of the run a checkpoint belongs to.

    Looked for in the run folder given on the command line (``given``, when it is a folder), else
    beside the checkpoint's ``checkpoints/`` folder (``<run>/checkpoints/x.ckpt`` -> ``<run>``), else
    beside the checkpoint. Raises FileNotFoundError naming the member and every place looked in.
    """
    checkpoint = Path(checkpoint)
    folders = []
    if given is not None and Path(given).is_dir():
        folders.append(RunFolder(given))
    if (own := RunFolder.of_checkpoint(checkpoint)) is not None:
        folders.append(own)
    folders.append(RunFolder(checkpoint.parent))
    candidates = [folder.predictions_path for folder in folders]
    for candidate in dict.fromkeys(candidates):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{checkpoint}: no {PREDICTIONS_FILE} for this ensemble member (looked in "
        f"{', '.join(str(c.parent) for c in dict.fromkeys(candidates))}); the weights come from each "
        f"member's validation predictions, which training writes into its run folder at its best "
        "val/score: pass the run folder, or use --ensemble mean")


def recorded_train_index(data_hparams: dict, n_train: int | None) -> np.ndarray | None:
    """The training videos of a checkpoint's split, recomputed from its ``data.*`` settings
    (``split``, ``n_folds``, ``fold``, ``n_val``, ``seed``; defaults where it predates one) by the data
    module it was trained with (:func:`datamodules.rebuild.datamodule_from_checkpoint`), over the
    release's ``n_train`` videos with fMRI; None when ``n_train`` is unknown. Bad videos a run skipped
    are still counted in (a superset)."""
    if n_train is None:
        return None
    return datamodule_from_checkpoint(data_hparams).split_of(n_train)[0]


def load_member(checkpoint: str | Path, layout: TargetLayout, data_hparams: dict, *,
                given: str | Path | None = None, n_train: int | None = None,
                checkpoint_epoch: int | None = None) -> MemberValidation:
    """Read one member's validation file and check it against the member's own checkpoint.

    Raises FileNotFoundError (no file) or EnsembleInputError (a file of other voxels). Warns when
    the file is from another epoch than the checkpoint (``last.ckpt`` instead of the best one).
    """
    path = validation_file(checkpoint, given)
    try:
        saved = read_predictions(path)
    except RunReadError as err:
        raise EnsembleInputError(str(err)) from err
    if saved.layout != layout:
        raise EnsembleInputError(f"{path}: validation predictions of {saved.layout}, but its checkpoint "
                                 f"{checkpoint} predicts {layout}")
    if saved.epoch is None or saved.val_score is None:
        raise EnsembleInputError(f"{path}: no epoch or score recorded (expected those ValidationDump writes)")
    epoch = saved.epoch
    member = MemberValidation(
        name=str(checkpoint), path=path, predictions=saved.predictions.astype(np.float64),
        targets=saved.targets.astype(np.float64), ceiling=saved.noise_ceiling.astype(np.float64),
        video_index=saved.video_index.astype(np.int64), train_index=saved.train_index, score=saved.val_score)
    # Either record may say a video was trained on: the file's own (the run that wrote it) and the
    # checkpoint's split settings (the run the weights are for); a mismatched pair shows as overlap.
    from_split = recorded_train_index(data_hparams, n_train)
    if from_split is not None:
        member.train_index = from_split if member.train_index is None else np.union1d(member.train_index, from_split)
    if checkpoint_epoch is not None and checkpoint_epoch != epoch:
        warnings.warn(f"{checkpoint}: a checkpoint of epoch {checkpoint_epoch}, but {path} holds the validation of "
                      f"epoch {epoch} (the run's best); its weights describe that epoch. Pass the run folder to "
                      "predict with the best checkpoint", stacklevel=2)
    return member


def check_members(members: list[MemberValidation]) -> tuple[str, np.ndarray | None]:
    """Which case of the module's rule the members are: ``("shared", videos)`` with the video
    indices every member held out (the weights' videos), or ``("kfold", None)``.

    Raises EnsembleInputError naming the member (and the other member) when a member's validation
    videos are among its own training videos, or members overlap in part with too few videos held
    out by all of them.
    """
    for m in members:
        if m.train_index is not None:
            own = np.intersect1d(m.video_index, m.train_index)
            if own.size:
                raise EnsembleInputError(
                    f"{m.name}: {m.path} scores {own.size} of its {m.video_index.size} validation videos on videos "
                    f"its checkpoint's split trained on (video indices {own[:5].tolist()}...): the file is from "
                    "another run, split or release, and its r would reward fitting the training videos")
    if all(np.array_equal(m.video_index, members[0].video_index) for m in members):
        return "shared", members[0].video_index
    pairwise_disjoint = all(np.intersect1d(a.video_index, b.video_index).size == 0
                            for i, a in enumerate(members) for b in members[i + 1:])
    if pairwise_disjoint:
        return "kfold", None
    common = members[0].video_index
    for m in members[1:]:
        common = np.intersect1d(common, m.video_index)
    a, b, n_seen = _trained_on_others(members)
    detail = (f"{a.name} validates on {n_seen} videos that {b.name} trained on" if a is not None else
              "their validation videos overlap in part")
    if common.size < MIN_SHARED_VIDEOS:
        raise EnsembleInputError(
            f"the members' validation videos overlap in part ({detail}), and only {common.size} videos are held "
            f"out by every member (at least {MIN_SHARED_VIDEOS} needed): weights chosen on a video a member trained "
            "on would favour that member for having seen it. Ensemble members of one validation split "
            "(the same data.split, data.n_val / data.fold), or the folds of one k-fold split")
    warnings.warn(f"the members' validation videos differ ({detail}); the weights and the estimate use only the "
                  f"{common.size} videos every member held out", stacklevel=2)
    return "shared", common


def _trained_on_others(members):
    for a in members:
        for b in members:
            if a is not b and b.train_index is not None:
                n = np.intersect1d(a.video_index, b.train_index).size
                if n:
                    return a, b, n
    return None, None, 0


@dataclass
class EnsemblePlan:
    """Weights and the record of how they were chosen.

    Attributes
    ----------
    weights : float64 (n_members, n_voxels), summing to 1 over members
    record : the manifest's ``ensemble`` entry (mode, members' scores and weights, the estimate)
    lines : what to print
    """

    weights: np.ndarray
    record: dict = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def _rows(member: MemberValidation, videos: np.ndarray) -> np.ndarray:
    return np.searchsorted(member.video_index, videos)


def plan_ensemble(members: list[MemberValidation], layout: TargetLayout, mode: str, level: str = "region",
                  temperature: float = 0.3, n_splits: int = 5, seed: int = 0) -> EnsemblePlan:
    """Weights of ``mode`` from the members' validation predictions, and the ensemble's estimate.

    ``shared`` members (the same held-out videos): the members' scores on those videos, the ensemble's
    score with weights chosen on all of them (optimistic), and the cross-fitted score
    (:func:`export.ensemble_weights.cross_fitted_predictions`, ``n_splits`` parts). ``kfold``
    members: each member's score on its own fold and the out-of-fold score (module docstring).
    """
    regime, videos = check_members(members)
    names = [m.name for m in members]
    describe = mode if mode != "softmax" else f"softmax ({level}, temperature {temperature:g})"
    record: dict = {"mode": mode, "case": regime, "members": []}
    if mode == "softmax":
        record.update(level=level, temperature=temperature)
    if regime == "shared":
        if len(videos) < 4:
            raise EnsembleInputError(f"only {len(videos)} validation videos held out by every member; weights and "
                                     "their cross-fitted estimate need at least 4 (a larger data.n_val)")
        rows = [_rows(m, videos) for m in members]
        preds = np.stack([m.predictions[r] for m, r in zip(members, rows)])  # (n_members, n_videos, n_voxels)
        targets, ceiling = members[0].targets[rows[0]], members[0].ceiling
        for m, r in zip(members[1:], rows[1:]):
            if not np.allclose(m.targets[r], targets, atol=1e-5, equal_nan=True):
                raise EnsembleInputError(f"{m.path}: other measured responses than {members[0].path} for the same "
                                         "validation videos: the members were trained on different releases")
        r_members = np.stack([ew.pearson_r(p, targets) for p in preds])
        weights = ew.ensemble_weights(mode, r_members, layout, level, temperature)
        member_scores = [ew.validation_score(r, ceiling, layout) for r in r_members]
        in_sample = ew.validation_score(ew.pearson_r(ew.combine(preds, weights), targets), ceiling, layout)
        crossed, parts = ew.cross_fitted_predictions(preds, targets, layout, mode, level, temperature, n_splits, seed)
        cross_fitted = ew.validation_score(ew.pearson_r(crossed, targets), ceiling, layout)
        record["estimate"] = {
            "videos": int(len(videos)), "splits": len(parts), "seed": seed,
            "cross_fitted_score": cross_fitted, "in_sample_score": in_sample,
            "best_member_score": max(member_scores),
            "how": (f"weights chosen on {len(parts) - 1} of {len(parts)} parts of the {len(videos)} validation videos "
                    "every member held out, each part predicted in turn; scored once over all of them "
                    "(val/score: r / sqrt(noise ceiling), mean over voxels, then groups)"),
        }
        header = (f"ensemble: {describe} of {len(members)} members, weights from their validation predictions on "
                  f"the {len(videos)} videos every member held out")
        tail = [f"  ensemble, weights chosen and scored on the same videos: {in_sample:.4f} (optimistic)",
                f"  ensemble, cross-fitted ({len(parts)} parts, weights never chosen on the videos they score): "
                f"{cross_fitted:.4f}  <- the estimate"]
        if mode == "mean":
            tail = [f"  ensemble (equal weights, nothing chosen on these videos): {cross_fitted:.4f}  <- the estimate"]
    else:
        r_members = np.stack([ew.pearson_r(m.predictions, m.targets) for m in members])
        weights = ew.ensemble_weights(mode, r_members, layout, level, temperature)
        member_scores = [ew.validation_score(r, m.ceiling, layout) for r, m in zip(r_members, members)]
        oof = ew.out_of_fold_score([m.predictions for m in members], [m.targets for m in members],
                                   [m.ceiling for m in members], layout)
        record["estimate"] = {
            "videos": int(sum(m.video_index.size for m in members)), "out_of_fold_score": oof,
            "best_member_score": max(member_scores),
            "how": ("k-fold members: each weighted on its own held-out fold; no video is held out by every member, "
                    "so the estimate is the out-of-fold score (each fold scored by the one member that held it "
                    "out, averaged over folds), the K-fold estimate of one fold model's score"),
        }
        header = (f"ensemble: {describe} of {len(members)} k-fold members, each weighted on its own held-out fold")
        tail = [f"  out-of-fold score (each fold by the member that held it out; one fold model's estimate, "
                f"the ensemble usually scores higher): {oof:.4f}  <- the estimate"]
    summary = ew.weight_summary(weights, layout)
    lines = [header]
    for i, (m, score) in enumerate(zip(members, member_scores)):
        n = m.video_index.size if regime == "kfold" else len(videos)
        lines.append(f"  member {i}: val/score {score:.4f} on {n} videos, mean weight "
                     f"{weights[i].mean():.3f}  ({names[i]})")
        record["members"].append({"checkpoint": str(Path(m.name).resolve()), "val_predictions": str(m.path.resolve()),
                                  "val_score": score, "logged_val_score": m.score, "val_videos": int(n),
                                  "weights": summary[i]})
    return EnsemblePlan(weights=weights, record=record, lines=lines + tail)
