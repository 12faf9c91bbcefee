"""``predict.py --videos FOLDER`` takes the clips the decoders read, whatever the suffix's case,
and names what it skips (issue 30, item 10: ``.MP4`` and ``.mov`` clips were left out silently)."""

from __future__ import annotations

import json
import logging
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from datamodules.release import DataLayoutError
from datamodules.video import VideoDecodeError, read_clip
from datamodules.video_files import VideoFolderError, list_video_folder
from tests.test_video import moving_frames


def _encode(path: Path, container_format: str, codec: str = "libx264", seed: int = 0) -> Path:
    """A real clip in ``container_format`` (``mp4``, ``mov``, ``avi``, ``matroska``)."""
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=Fraction(25))
        stream.height = stream.width = 64
        stream.pix_fmt = "yuv420p"
        for image in moving_frames(8, seed=seed):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _remux(source: Path, target: Path, container_format: str) -> Path:
    """``source``'s packets, unchanged, in another container (the same frames decode)."""
    with av.open(str(source)) as src, av.open(str(target), "w", format=container_format) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return target


@pytest.fixture
def mixed_folder(tmp_path) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir()
    _encode(folder / "a.mp4", "mp4", seed=1)
    _encode(folder / "B.MP4", "mp4", seed=2)  # a camera's upper-case name
    _encode(folder / "c.mov", "mov", seed=3)  # QuickTime, as phones write
    _encode(folder / "d.M4V", "mp4", seed=4)
    _encode(folder / "e.avi", "avi", codec="mpeg4", seed=5)
    _encode(folder / "f.mkv", "matroska", seed=6)
    (folder / "notes.txt").write_text("not a clip")
    (folder / "more").mkdir()
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / ".clip_cache").mkdir()
    return folder


def test_clips_of_any_case_and_mov_are_taken_and_the_rest_named(mixed_folder, caplog):
    with caplog.at_level(logging.WARNING, logger="datamodules.video_files"):
        videos = list_video_folder(mixed_folder)
    assert [v.name for v in videos] == ["B.MP4", "a.mp4", "c.mov", "d.M4V"]
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning.startswith(f"{mixed_folder}: 4 file(s) skipped, not clips")
    assert warning.endswith(": e.avi, f.mkv, more/, notes.txt")


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_every_clip_taken_decodes_and_every_container_skipped_is_refused_by_the_decoders(
        mixed_folder, backend):
    """The list is what the decoders read: each clip taken decodes (both backends the same), and
    the decoders refuse the containers skipped (AVI, Matroska) by their content."""
    for video in list_video_folder(mixed_folder):
        clip = read_clip(video, 4, 32, backend=backend)
        np.testing.assert_array_equal(clip, read_clip(video, 4, 32, backend="pyav"))
    for name in ("e.avi", "f.mkv"):
        with pytest.raises(VideoDecodeError, match="not an mp4 file"):
            read_clip(mixed_folder / name, 4, 32, backend=backend)


def test_macos_metadata_file_is_refused_naming_it(mixed_folder):
    (mixed_folder / "._B.MP4").write_bytes(b"\0\5\26\7" + bytes(60))
    with pytest.raises(VideoFolderError, match=r"\._B\.MP4: a macOS metadata file, not a video"):
        list_video_folder(mixed_folder)


def test_folder_without_clips_names_what_it_holds(tmp_path):
    folder = tmp_path / "none"
    folder.mkdir()
    _encode(folder / "clip.avi", "avi", codec="mpeg4")
    (folder / "readme.md").write_text("")
    with pytest.raises(DataLayoutError, match=r"no \.mp4 files found \(nor \.m4v or \.mov, in any "
                                              r"case\); it holds clip\.avi, readme\.md$"):
        list_video_folder(folder)
    with pytest.raises(DataLayoutError, match="video folder not found"):
        list_video_folder(tmp_path / "absent")


@pytest.mark.slow
def test_predict_exports_upper_case_and_mov_clips_as_the_test_set_rows(tmp_path):
    """End to end: a tiny model's predictions for a test clip renamed ``.MP4`` and one remuxed into
    a ``.mov`` equal its predictions for the same clips in the test set."""
    import train
    from datamodules.sources.algonauts2021 import VIDEO_DIR
    from simulator import TINY_CONFIG, generate_dataset
    from tests.test_predict import FIT, REPO, _npy, _predict

    release = tmp_path / "release"
    generate_dataset(release, TINY_CONFIG, progress=False)
    cli = train.main(["fit", "--config", str(REPO / "configs/demo.yaml"), *FIT,
                      "--data.root", str(release), "--data.synthetic", "null",
                      "--data.cache_dir", str(tmp_path / "cache"),
                      "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])
    ckpt = Path(cli.trainer.log_dir) / "checkpoints" / "last.ckpt"
    layout = cli.model.layout
    test_set = _predict([ckpt], tmp_path / "test_set")
    tests = json.loads((test_set / "manifest.json").read_text())["videos"]
    folder = tmp_path / "clips"
    folder.mkdir()
    by_name = {p.name: p for p in (release / VIDEO_DIR).glob("*.mp4")}
    shutil.copy2(by_name[tests[0]], folder / "A.MP4")
    _remux(by_name[tests[1]], folder / "b.mov", "mov")
    (folder / "notes.txt").write_text("")
    out = _predict([ckpt], tmp_path / "out", "--videos", str(folder))
    assert json.loads((out / "manifest.json").read_text())["videos"] == ["A.MP4", "b.mov"]
    np.testing.assert_allclose(_npy(out, layout), _npy(test_set, layout)[:2], rtol=1e-5, atol=1e-5)
