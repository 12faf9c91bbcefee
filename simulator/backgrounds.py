"""Moving backgrounds: drifting gratings, panning oriented noise, and panning places.

Each function returns ``(frames, info)``: frames uint8 of shape ``(n_frames, size, size, 3)``
and a dict of per-frame annotations (``speed``: background motion in frame sides per
second, ``house_area``: fraction of the frame covered by buildings) plus the drawn
parameters. Rendering is vectorised over frames; everything textured is computed once
and then cropped or phase-shifted per frame.
"""

from __future__ import annotations

import numpy as np

BACKGROUNDS = ("grating", "noise", "place")


def _colourise(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Map gray (..., ) in [0, 1] to uint8 RGB (..., 3) between two random colours."""
    dark = rng.uniform(0.0, 0.35, 3)
    light = rng.uniform(0.6, 1.0, 3)
    lut = np.round(255 * (dark + np.linspace(0, 1, 256)[:, None] * (light - dark))).astype(np.uint8)
    return lut[np.clip(gray * 255 + 0.5, 0, 255).astype(np.uint8)]


def _info(n_frames: int, speed: float, **params) -> dict:
    return {
        "speed": np.full(n_frames, speed, np.float32),
        "house_area": np.zeros(n_frames, np.float32),
        **params,
    }


def grating(rng: np.random.Generator, size: int, times: np.ndarray):
    """A drifting sinusoidal grating, sometimes a plaid of two.

    ``times`` (n_frames,) in seconds. Returns frames (n_frames, size, size, 3) uint8, info.
    """
    c = np.arange(size, dtype=np.float32) / size
    y, x = np.meshgrid(c, c, indexing="ij")
    gray = np.full((len(times), size, size), 0.5, np.float32)
    components = 2 if rng.random() < 0.3 else 1
    orientation = rng.uniform(0, np.pi)
    cycles = np.exp(rng.uniform(np.log(2.0), np.log(10.0)))
    temporal_hz = rng.uniform(-2.0, 2.0)
    contrast = rng.uniform(0.3, 1.0)
    for k in range(components):
        theta = orientation + k * rng.uniform(np.pi / 4, 3 * np.pi / 4)
        if k == 0:
            cyc, hz = cycles, temporal_hz
        else:
            cyc, hz = cycles * rng.uniform(0.6, 1.6), rng.uniform(-2, 2)
        spatial = (2 * np.pi * cyc * (np.cos(theta) * x + np.sin(theta) * y)).astype(np.float32)
        omega = (2 * np.pi * hz * times).astype(np.float32)
        amp = 0.5 * contrast / components
        # sin(a - w t) without a sin over the whole (n_frames, size, size) block.
        gray += amp * (np.sin(spatial)[None] * np.cos(omega)[:, None, None]
                       - np.cos(spatial)[None] * np.sin(omega)[:, None, None])
    frames = _colourise(np.clip(gray, 0, 1), rng)
    return frames, _info(len(times), abs(temporal_hz) / cycles, orientation=float(orientation),
                         cycles=float(cycles), contrast=float(contrast))


def _oriented_noise(rng: np.random.Generator, size: int, orientation: float, bandwidth: float,
                    cycles: float) -> np.ndarray:
    """Periodic band-pass noise with an orientation bias, (size, size) float32 in [0, 1]."""
    f = np.fft.fftfreq(size) * size
    fy, fx = np.meshgrid(f, f, indexing="ij")
    radius = np.hypot(fx, fy) + 1e-6
    # The spectrum's energy sits orthogonal to the stripes: stripe orientation + pi/2.
    delta = np.angle(np.exp(2j * (np.arctan2(fy, fx) - orientation - np.pi / 2))) / 2
    amplitude = np.exp(-np.log(radius / cycles) ** 2 / 0.5)
    amplitude *= np.exp(-(delta**2) / (2 * bandwidth**2))
    amplitude[0, 0] = 0
    spectrum = amplitude * np.exp(2j * np.pi * rng.random((size, size)))
    tex = np.real(np.fft.ifft2(spectrum))
    tex /= 3 * tex.std() + 1e-9
    return np.clip(0.5 + tex, 0, 1).astype(np.float32)


def noise(rng: np.random.Generator, size: int, times: np.ndarray):
    """Oriented (or isotropic) filtered noise, panning with a constant velocity.

    Returns frames (n_frames, size, size, 3) uint8, info.
    """
    orientation = rng.uniform(0, np.pi)
    bandwidth = rng.choice([0.2, 0.4, 3.0])  # 3 rad: practically isotropic
    cycles = np.exp(rng.uniform(np.log(3.0), np.log(16.0)))
    tex = _oriented_noise(rng, size, orientation, bandwidth, cycles)
    speed = rng.uniform(0.0, 0.3)
    direction = rng.uniform(0, 2 * np.pi)
    tiled = np.tile(tex, (2, 2))  # the texture is periodic, so crops may wrap
    step = speed * size * np.array([np.sin(direction), np.cos(direction)])
    shift = np.round(times[:, None] * step).astype(int) % size
    gray = np.stack([tiled[dy : dy + size, dx : dx + size] for dy, dx in shift])
    frames = _colourise(gray, rng)
    return frames, _info(len(times), speed, orientation=float(orientation),
                         bandwidth=float(bandwidth), cycles=float(cycles))


def _box(x: np.ndarray, y: np.ndarray, left, right, top, bottom) -> np.ndarray:
    """Anti-aliased alpha of an axis-aligned rectangle (pixel coordinates)."""
    inside = np.minimum(np.minimum(x - left, right - x), np.minimum(y - top, bottom - y))
    return np.clip(0.5 + inside, 0, 1)


def _ground(rng, x, y, horizon: float, size: int) -> np.ndarray:
    """Ground-plane lines converging to a vanishing point on the horizon, alpha (size, width)."""
    below = y - horizon
    rays = np.arctan2(np.maximum(below, 1e-3), x - rng.uniform(0.3, 0.7) * x.max())
    ray_line = 1.0 - np.abs(np.sin(rng.integers(6, 16) * rays)) * (below + 4) / 3
    depth = size * 0.3 / np.maximum(below, 1e-3)  # cross lines equally spaced in depth
    tile_line = (1.0 - np.abs(np.sin(np.pi * depth)) * (below + 4) / 4) * rng.integers(0, 2)
    return np.clip(np.maximum(ray_line, tile_line), 0, 1)


def _house(rng, img, x, y, horizon: float, size: int) -> np.ndarray:
    """Paint a house standing on the horizon into ``img`` (size, width, 3); return its alpha."""
    w, h = rng.uniform(0.15, 0.35) * size, rng.uniform(0.12, 0.3) * size
    cx = rng.uniform(0.1, 0.9) * x.max()
    base = horizon + rng.uniform(0.0, 0.08) * size
    top = base - h
    wall = _box(x, y, cx - w / 2, cx + w / 2, top, base)
    roof_h = rng.uniform(0.3, 0.7) * h
    apex_dist = y - (top - roof_h) - np.abs(x - cx) * 2.2 * roof_h / w
    roof = np.clip(0.5 + np.minimum(apex_dist, top - y + 1) / 1.5, 0, 1)
    windows = np.maximum(*[_box(x, y, cx + f * w - 0.09 * w, cx + f * w + 0.09 * w,
                                base - 0.77 * h, base - 0.53 * h) for f in (-0.25, 0.25)])
    door = _box(x, y, cx - 0.08 * w, cx + 0.08 * w, base - 0.45 * h, base)
    layers = ((wall, rng.uniform(0.5, 1.0, 3)),
              (roof, rng.uniform([0.4, 0.1, 0.1], [0.7, 0.3, 0.2])),
              (windows * wall, (0.15, 0.2, 0.3)),
              (door * wall, (0.3, 0.2, 0.1)))
    for alpha, colour in layers:
        img += alpha[..., None] * (np.asarray(colour, np.float32) - img)
    return np.maximum(wall, roof)


def place(rng: np.random.Generator, size: int, times: np.ndarray):
    """A landscape: sky, horizon, a ground plane with perspective lines and houses; the
    camera pans sideways. Returns frames (n_frames, size, size, 3) uint8, info."""
    speed = rng.uniform(0.0, 0.15)
    pan = np.round(speed * size * times).astype(int)
    if rng.random() < 0.5:
        pan = pan.max() - pan
    width = size + int(pan.max()) + 1
    horizon = rng.uniform(0.35, 0.6) * size
    y = np.arange(size, dtype=np.float32)[:, None] + 0.5
    x = np.arange(width, dtype=np.float32)[None, :] + 0.5

    sky_top, sky_low = rng.uniform([0.2, 0.35, 0.7], [0.45, 0.6, 0.95]), rng.uniform(0.75, 0.95, 3)
    grounds = np.array([[0.3, 0.55, 0.25], [0.45, 0.45, 0.45], [0.75, 0.65, 0.45]])
    ground = grounds[rng.integers(len(grounds))] * rng.uniform(0.8, 1.1)
    t = np.clip(y / horizon, 0, 1)[..., None]
    img = np.broadcast_to(sky_top + t * (sky_low - sky_top), (size, width, 3)).astype(np.float32)
    below = np.clip(y - horizon + 0.5, 0, 1)[..., None]
    lines = _ground(rng, x, y, horizon, size)[..., None]
    img = img * (1 - below) + below * ground * (1 - 0.6 * lines)

    house_mask = np.zeros((size, width), np.float32)
    for _ in range(rng.integers(1, 4)):
        house_mask = np.maximum(house_mask, _house(rng, img, x, y, horizon, size))

    img8 = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    frames = np.stack([img8[:, o : o + size] for o in pan])
    cumulative = np.concatenate([[0.0], np.cumsum(house_mask.sum(axis=0))])
    info = _info(len(times), speed, horizon=float(horizon / size))
    info["house_area"] = ((cumulative[pan + size] - cumulative[pan]) / size**2).astype(np.float32)
    return frames, info


RENDERERS = {"grating": grating, "noise": noise, "place": place}
