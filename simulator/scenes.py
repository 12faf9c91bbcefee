"""Clips: a moving background plus a few moving objects that appear and disappear.

:func:`sample_scene` draws a :class:`Scene` (pure parameters); :func:`render_scene`
turns it into frames and the per-frame annotations the hidden brain reads
(how much of each object kind is visible, how fast things move, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator import backgrounds, sprites
from simulator.sprites import KINDS

_N_GAIT_POSES = 8
_SKIN = np.array([[0.96, 0.8, 0.69], [0.87, 0.67, 0.52], [0.68, 0.47, 0.33], [0.45, 0.3, 0.2]])


@dataclass
class SceneObject:
    """One moving object. Positions are in frame sides (0..1), times in seconds."""

    kind: str
    size: float
    angle: float
    center: tuple[float, float]  # (x, y) at the middle of the clip
    velocity: tuple[float, float]  # (vx, vy) frame sides per second
    onset: float
    offset: float
    colors: tuple  # kind-specific RGB triples in [0, 1]
    gait_hz: float = 0.0  # bodies: steps per second while walking


@dataclass
class Scene:
    fps: float
    n_frames: int
    background: str
    objects: list[SceneObject] = field(default_factory=list)
    seed: int = 0  # seeds the background's own random draws

    @property
    def times(self) -> np.ndarray:
        """Frame times in seconds, (n_frames,)."""
        return np.arange(self.n_frames) / self.fps

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    @property
    def description(self) -> str:
        """Short name for the file, e.g. ``place_face-star`` (no spaces or odd characters)."""
        kinds = "-".join(o.kind for o in self.objects)
        return f"{self.background}_{kinds}" if kinds else self.background


def _saturated(rng: np.random.Generator) -> np.ndarray:
    hue = rng.uniform(0, 1)
    rgb = np.clip(np.abs(((hue * 6 + np.array([0, 4, 2])) % 6) - 3) - 1, 0, 1)
    return 0.15 + 0.8 * rgb * rng.uniform(0.7, 1.0)


def _sample_object(rng: np.random.Generator, duration: float) -> SceneObject:
    kind = rng.choice(KINDS, p=[0.3, 0.3, 0.1, 0.1, 0.1, 0.1])
    speed = 0.0 if rng.random() < 0.2 else rng.uniform(0.03, 0.45)
    direction = rng.uniform(0, 2 * np.pi)
    if rng.random() < 0.5:
        onset, offset = -1.0, duration + 1.0
    else:
        onset = rng.uniform(0.0, 2.2)
        offset = onset + rng.uniform(0.7, 3.0)
    if kind == "face":
        skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.9, 1.05)
        colors = (skin, rng.uniform(0.0, 0.35, 3))
        angle = rng.uniform(-0.3, 0.3)
    elif kind == "body":
        colors = (_SKIN[rng.integers(len(_SKIN))], _saturated(rng), rng.uniform(0.05, 0.5, 3))
        angle = rng.uniform(-0.15, 0.15)
    else:
        colors = (_saturated(rng),)
        angle = rng.uniform(0, 2 * np.pi)
    return SceneObject(
        kind=str(kind),
        size=float(rng.uniform(0.22, 0.5) * (1.25 if kind == "body" else 1.0)),
        angle=float(angle),
        center=tuple(rng.uniform(0.2, 0.8, 2)),
        velocity=(speed * np.cos(direction), speed * np.sin(direction)),
        onset=float(onset),
        offset=float(offset),
        colors=tuple(np.clip(c, 0, 1) for c in colors),
        gait_hz=float(1.0 + 4.0 * speed) if kind == "body" and speed > 0 else 0.0,
    )


def sample_scene(rng: np.random.Generator, fps: float, n_frames: int) -> Scene:
    """Draw a background kind and 0-3 objects for a clip of ``n_frames`` at ``fps``."""
    background = str(rng.choice(backgrounds.BACKGROUNDS, p=[0.35, 0.35, 0.3]))
    n_objects = rng.choice(4, p=[0.15, 0.4, 0.3, 0.15])
    duration = n_frames / fps
    objects = [_sample_object(rng, duration) for _ in range(n_objects)]
    return Scene(fps=float(fps), n_frames=int(n_frames), background=background, objects=objects,
                 seed=int(rng.integers(2**31)))


@dataclass
class Clip:
    """Rendered frames and what was on screen, frame by frame.

    Attributes
    ----------
    frames : uint8 array (n_frames, size, size, 3)
    fps : frames per second
    times : float array (n_frames,), seconds
    kind_area : float32 (n_frames, n_kinds) visible fraction of the frame per object kind
        (kinds in :data:`sprites.KINDS` order)
    kind_count : float32 (n_frames, n_kinds) objects of each kind on screen
    kind_motion : float32 (n_frames, n_kinds) visible area times speed (frame sides / s)
    object_size : float32 (n_frames,) mean size (frame sides) of the objects on screen, 0 if none
    background_speed : float32 (n_frames,) frame sides / s
    house_area : float32 (n_frames,) fraction of the frame covered by buildings
    is_place : bool, the background is a landscape
    """

    frames: np.ndarray
    fps: float
    times: np.ndarray
    kind_area: np.ndarray
    kind_count: np.ndarray
    kind_motion: np.ndarray
    object_size: np.ndarray
    background_speed: np.ndarray
    house_area: np.ndarray
    is_place: bool

    @property
    def duration(self) -> float:
        return len(self.times) / self.fps


def _sprites(obj: SceneObject, side: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The object's look; bodies that walk get a cycle of gait poses."""
    if obj.kind == "face":
        return [sprites.face(side, obj.angle, *obj.colors)]
    if obj.kind == "body":
        if obj.gait_hz == 0:
            return [sprites.body(side, obj.angle, 0.7, *obj.colors)]
        return [sprites.body(side, obj.angle, 2 * np.pi * k / _N_GAIT_POSES, *obj.colors)
                for k in range(_N_GAIT_POSES)]
    return [sprites.shape(obj.kind, side, obj.angle, obj.colors[0])]


def render_scene(scene: Scene, size: int) -> Clip:
    """Draw ``scene`` at ``size`` x ``size`` pixels."""
    times = scene.times
    bg_rng = np.random.default_rng(scene.seed)
    frames, info = backgrounds.RENDERERS[scene.background](bg_rng, size, times)
    n = scene.n_frames
    kind_area = np.zeros((n, len(KINDS)), np.float32)
    kind_count = np.zeros_like(kind_area)
    kind_motion = np.zeros_like(kind_area)
    size_sum = np.zeros(n, np.float32)
    for obj in scene.objects:
        k = KINDS.index(obj.kind)
        side = max(4, int(round(obj.size * size)))
        looks = _sprites(obj, side)
        speed = float(np.hypot(*obj.velocity))
        mid = scene.duration / 2
        for t, time in enumerate(times):
            if not obj.onset <= time < obj.offset:
                continue
            rgb, alpha = looks[int(time * obj.gait_hz * _N_GAIT_POSES) % len(looks)]
            cx = (obj.center[0] + obj.velocity[0] * (time - mid)) * size
            cy = (obj.center[1] + obj.velocity[1] * (time - mid)) * size
            x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
            fx0, fy0 = max(x0, 0), max(y0, 0)
            fx1, fy1 = min(x0 + side, size), min(y0 + side, size)
            if fx1 <= fx0 or fy1 <= fy0:
                continue
            a = alpha[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
            region = frames[t, fy0:fy1, fx0:fx1].astype(np.float32)
            region += a[..., None] * (255 * rgb[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0] - region)
            frames[t, fy0:fy1, fx0:fx1] = (region + 0.5).astype(np.uint8)
            area = float(a.sum()) / size**2
            kind_area[t, k] += area
            kind_motion[t, k] += area * speed
            if area > 0.002:
                kind_count[t, k] += 1
                size_sum[t] += obj.size
    n_visible = kind_count.sum(axis=1)
    object_size = np.divide(size_sum, n_visible, out=np.zeros_like(size_sum), where=n_visible > 0)
    return Clip(frames=frames, fps=scene.fps, times=times, kind_area=kind_area,
                kind_count=kind_count,
                kind_motion=kind_motion, object_size=object_size,
                background_speed=info["speed"], house_area=info["house_area"],
                is_place=scene.background == "place")
