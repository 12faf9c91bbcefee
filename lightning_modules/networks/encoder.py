"""The video encoding model: frames -> backbone -> temporal stage -> voxel heads."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from einops import rearrange
from torch import nn

from lightning_modules.networks.backbones import FrameFeatureExtractor
from lightning_modules.networks.heads import VoxelHeads
from lightning_modules.networks.temporal import build_temporal
from scoring.layout import TargetLayout


class VideoEncoder(nn.Module):
    """Predict every subject's and region's voxels from a clip's frames.

    All ``batch * num_frames`` frames go through the backbone as one batch (a video
    backbone, ``consumes_clips``, takes the ``batch`` clips whole and returns the same
    per-frame features, see ``networks/video_backbones.py``); each
    read-out layer gets its own temporal stage; ``VoxelHeads`` maps the pooled
    layers to the flat ``(batch, n_voxels)`` target vector of ``layout``.

    Parameters
    ----------
    backbone : FrameFeatureExtractor
    temporal_kind : {"mean", "weighted", "lstm"}
    num_frames : int
    layout : TargetLayout
    hidden_dim, bidirectional, frame_diff
        Passed to ``build_temporal``.
    head_init_std : float
        Initial weight s.d. of the voxel heads.
    freeze_batchnorm : bool
        Keep the backbone's BatchNorm layers in eval mode (running statistics, not
        batch statistics) also while it fine-tunes; their affine weights still train.
        Unfreezing then does not shift the features the heads were fitted on.
    channels_last : bool
        Backbone weights and frames in channels-last (NHWC) memory order (``model.backbone.channels_last``);
        the uint8 frames are reordered before normalisation (a quarter of float32's bytes).
    compile_backend : str or None
        ``torch.compile`` the backbone in place with this backend (``"inductor"`` for
        ``model.backbone.compile``; None: eager). State-dict keys are unchanged.

    Freezing: ``freeze_backbone()`` turns off the backbone's gradients and holds it
    in eval mode; ``train()`` is overridden to re-apply that eval mode after
    switching the rest, so BatchNorm running statistics (and dropout) of a frozen
    backbone stay fixed even when a Lightning loop calls ``model.train()``.
    """

    def __init__(
        self,
        backbone: FrameFeatureExtractor,
        temporal_kind: str,
        num_frames: int,
        layout: TargetLayout,
        hidden_dim: int = 512,
        bidirectional: bool = False,
        frame_diff: bool = False,
        head_init_std: float = 0.01,
        freeze_batchnorm: bool = False,
        channels_last: bool = False,
        compile_backend: str | None = None,
    ):
        super().__init__()
        self.backbone = backbone
        self.num_frames = num_frames
        self.layout = layout
        self.temporal = nn.ModuleList(
            build_temporal(temporal_kind, d, num_frames, hidden_dim, bidirectional, frame_diff)
            for d in backbone.feature_dims
        )
        self.heads = VoxelHeads([t.out_dim for t in self.temporal], layout, head_init_std)
        self.register_buffer("mean", torch.tensor(backbone.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(backbone.std).view(1, 3, 1, 1), persistent=False)
        self._backbone_frozen = False
        self.freeze_batchnorm = freeze_batchnorm
        self._pinned: list[nn.Parameter] = []
        self.channels_last = channels_last
        if channels_last and getattr(backbone, "consumes_clips", False):
            raise ValueError("model.backbone.channels_last: true is for image backbones (NHWC frames); "
                             f"this video backbone ({', '.join(backbone.layer_names)}) reads 5-D clips: set it false")
        if channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        if compile_backend is not None:
            self.backbone.compile(backend=compile_backend)

    @property
    def backbone_frozen(self) -> bool:
        return self._backbone_frozen

    def _normalise(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 in [0, 255] or float in [0, 1] -> backbone-normalised float."""
        if frames.dtype == torch.uint8:
            frames = frames.float() / 255.0
        elif not frames.is_floating_point():
            raise TypeError(f"video must be uint8 or floating point, got {frames.dtype}")
        return (frames - self.mean.to(frames.dtype)) / self.std.to(frames.dtype)

    def frame_features(self, video: torch.Tensor) -> list[torch.Tensor]:
        """``(batch, num_frames, 3, H, W)`` -> list of ``(batch, num_frames, feature_dims[l])``."""
        if video.ndim != 5:
            raise ValueError(f"expected (batch, frames, 3, H, W), got {tuple(video.shape)}")
        b = video.shape[0]
        if getattr(self.backbone, "consumes_clips", False):  # a video backbone reads whole clips
            return self.backbone(self._normalise(video))
        frames = rearrange(video, "b t c h w -> (b t) c h w")
        if self.channels_last:
            frames = frames.contiguous(memory_format=torch.channels_last)
        frames = self._normalise(frames)
        return [rearrange(f, "(b t) d -> b t d", b=b) for f in self.backbone(frames)]

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """``(batch, num_frames, 3, H, W)`` uint8 or float -> ``(batch, n_voxels)``."""
        feats = self.frame_features(video)
        return self.heads([t(f) for t, f in zip(self.temporal, feats, strict=True)])

    def freeze_backbone(self) -> None:
        self.backbone.requires_grad_(False)
        self.backbone.eval()
        self._backbone_frozen = True

    def unfreeze_backbone(self) -> None:
        """Let the backbone train, all of it but the parameters :meth:`pin_parameters` named."""
        self.backbone.requires_grad_(True)
        for p in self._pinned:
            p.requires_grad_(False)
        self._backbone_frozen = False
        self.train(self.training)

    def pin_parameters(self, params: list[nn.Parameter]) -> None:
        """Keep these backbone parameters frozen whenever the backbone trains (partial fine-tuning)."""
        self._pinned = list(params)
        if not self._backbone_frozen:
            for p in self._pinned:
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> VideoEncoder:
        super().train(mode)
        if self._backbone_frozen:
            self.backbone.eval()
        elif self.freeze_batchnorm:
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        return self.backbone.parameters()

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Everything but the backbone: temporal stages and voxel heads."""
        backbone = {id(p) for p in self.backbone.parameters()}
        return (p for p in self.parameters() if id(p) not in backbone)
