"""Still images (png, jpg) as clips: an image is a one-frame clip, repeated to ``num_frames``.

The temporal stage then sees one frame, ``num_frames`` times: with ``temporal.kind: mean`` or
``weighted`` the model is an image model. Image datasets (NSD, THINGS, BOLD5000) are read this way
through the folder format (:mod:`datamodules.sources.folder`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Suffixes (compared lower-cased) read as still images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image_frames(path: str | Path, num_frames: int) -> np.ndarray:
    """The image at ``path`` as RGB, repeated: uint8 (num_frames, H, W, 3).

    Raises
    ------
    ValueError (a :class:`datamodules.video.VideoDecodeError` from the caller's view): the file is
        missing, empty or not an image PIL reads, naming it.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise FileNotFoundError(f"{path}: image file not found or empty")
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"{path}: not an image PIL can read ({err})") from None
    return np.repeat(rgb[None], num_frames, axis=0)
