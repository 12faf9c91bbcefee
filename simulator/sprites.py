"""Foreground objects drawn as anti-aliased RGBA sprites from signed distances.

Every sprite lives on a square canvas of ``side`` pixels with coordinates
``(x, y)`` in ``[-1, 1]`` (y down). A shape is a signed distance ``sdf`` in those
units, positive inside; its alpha is ``clip(0.5 + sdf * side / 2, 0, 1)``, i.e.
one pixel of soft edge whatever the size.
"""

from __future__ import annotations

import numpy as np

#: Object kinds, in the column order the scene annotations use.
KINDS = ("face", "body", "circle", "square", "triangle", "star")
SHAPES = KINDS[2:]


def _grid(side: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Canvas coordinates rotated by ``-angle``, two float32 arrays of shape (side, side)."""
    c = (np.arange(side, dtype=np.float32) + 0.5) / side * 2 - 1
    y, x = np.meshgrid(c, c, indexing="ij")
    ca, sa = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return ca * x + sa * y, -sa * x + ca * y


def _alpha(sdf: np.ndarray, side: int) -> np.ndarray:
    return np.clip(0.5 + sdf * (side / 2), 0.0, 1.0)


def _ellipse(x, y, cx, cy, a, b):
    """Approximate signed distance to an axis-aligned ellipse (exact for circles)."""
    return (1.0 - np.sqrt(((x - cx) / a) ** 2 + ((y - cy) / b) ** 2)) * min(a, b)


def _capsule(x, y, p, q, radius):
    """Signed distance to a thick segment from ``p`` to ``q``."""
    px, py = x - p[0], y - p[1]
    dx, dy = q[0] - p[0], q[1] - p[1]
    h = np.clip((px * dx + py * dy) / (dx * dx + dy * dy + 1e-9), 0.0, 1.0)
    return radius - np.sqrt((px - h * dx) ** 2 + (py - h * dy) ** 2)


def _layer(rgb: np.ndarray, alpha: np.ndarray, color) -> None:
    """Paint ``color`` over ``rgb`` (side, side, 3) where ``alpha`` (side, side) is set."""
    rgb += alpha[..., None] * (np.asarray(color, np.float32) - rgb)


def face(side: int, angle: float, skin, hair) -> tuple[np.ndarray, np.ndarray]:
    """An upright face: oval, hair, eyes, brows, nose, mouth. Returns rgb (side, side, 3), alpha."""
    x, y = _grid(side, angle)
    alpha = _alpha(_ellipse(x, y, 0, 0.02, 0.72, 0.95), side)
    rgb = np.empty((side, side, 3), np.float32)
    rgb[:] = skin
    _layer(rgb, _alpha(np.minimum(-0.55 - y, _ellipse(x, y, 0, 0.02, 0.72, 0.95)), side), hair)
    dark = (0.08, 0.06, 0.05)
    for sx in (-0.3, 0.3):
        _layer(rgb, _alpha(_ellipse(x, y, sx, -0.18, 0.14, 0.08), side), (0.95, 0.95, 0.95))
        _layer(rgb, _alpha(_ellipse(x, y, sx, -0.18, 0.06, 0.06), side), dark)
        brow = _capsule(x, y, (sx - 0.15, -0.36), (sx + 0.15, -0.38), 0.03)
        _layer(rgb, _alpha(brow, side), hair)
    nose = _capsule(x, y, (0, -0.1), (0.03, 0.15), 0.04)
    _layer(rgb, _alpha(nose, side), np.asarray(skin) * 0.75)
    _layer(rgb, _alpha(_ellipse(x, y, 0, 0.45, 0.28, 0.07), side), (0.55, 0.12, 0.12))
    return rgb, alpha


def body(side: int, angle: float, phase: float, skin, shirt,
         trousers) -> tuple[np.ndarray, np.ndarray]:
    """A stick figure in a walking pose at gait ``phase`` (radians). Returns rgb, alpha."""
    x, y = _grid(side, angle)
    swing = 0.5 * np.sin(phase)
    shoulder, hip = (0.0, -0.48), (0.0, 0.12)

    def limb(root, length, theta, bend):
        knee = (root[0] + length * np.sin(theta), root[1] + length * np.cos(theta))
        end = (knee[0] + length * np.sin(theta + bend), knee[1] + length * np.cos(theta + bend))
        return np.maximum(_capsule(x, y, root, knee, 0.09), _capsule(x, y, knee, end, 0.08))

    knee = -0.3 * abs(swing)
    legs = np.maximum(limb(hip, 0.42, swing, knee), limb(hip, 0.42, -swing, knee))
    arm = 0.15 - swing
    arms = np.maximum(limb(shoulder, 0.3, arm, 0.4), limb(shoulder, 0.3, -arm, 0.4))
    torso = _capsule(x, y, (0.0, -0.5), hip, 0.17)
    head = _ellipse(x, y, 0.0, -0.72, 0.16, 0.16)
    rgb = np.zeros((side, side, 3), np.float32)
    parts = [(legs, trousers), (torso, shirt), (arms, shirt), (head, skin)]
    alpha = np.zeros((side, side), np.float32)
    for sdf, color in parts:
        a = _alpha(sdf, side)
        _layer(rgb, a, color)
        alpha = np.maximum(alpha, a)
    return rgb, alpha


def shape(kind: str, side: int, angle: float, color) -> tuple[np.ndarray, np.ndarray]:
    """A plain filled circle, square, triangle or five-pointed star. Returns rgb, alpha."""
    x, y = _grid(side, angle)
    if kind == "circle":
        sdf = 0.8 - np.sqrt(x * x + y * y)
    elif kind == "square":
        sdf = 0.62 - np.maximum(np.abs(x), np.abs(y))
    elif kind == "triangle":
        normals = [(np.sin(a), -np.cos(a)) for a in (0.0, 2 * np.pi / 3, 4 * np.pi / 3)]
        sdf = 0.42 - np.max([nx * x + ny * y for nx, ny in normals], axis=0)
    elif kind == "star":
        r = np.sqrt(x * x + y * y)
        spoke = np.abs(((np.arctan2(y, x) + np.pi / 2) * 5 / (2 * np.pi)) % 1.0 * 2 - 1)
        sdf = 0.5 * (0.38 + 0.5 * (1 - spoke) - r)
    else:
        raise ValueError(f"unknown shape {kind!r}; choose from {SHAPES}")
    alpha = _alpha(sdf, side)
    # A little shading so shapes are not flat stickers.
    shade = (1.0 - 0.15 * (x + y)).astype(np.float32)
    rgb = np.clip(shade[..., None] * np.asarray(color, np.float32), 0.0, 1.0)
    return rgb, alpha
