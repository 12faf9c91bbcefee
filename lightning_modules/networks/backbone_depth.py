"""The backbone's parameters by depth, for layer-wise learning rates and partial fine-tuning.

timm's ``group_matcher`` names the blocks of a network from the stem to the head (for
EfficientNet one group per inverted-residual block, for ResNet one per residual block). Only
the blocks up to the deepest read-out layer shape the features; the ones beyond it get no
gradient, so they are left out, and "the last block" is the deepest one the heads read.
Video backbones take part the same way: an inflated timm network keeps timm's matcher, and the
torchvision video trunks (``video_backbones``) define one over their residual blocks, inception
modules or transformer blocks (the probe clip is their ``input_size``, ``(T, 3, H, W)``).
"""

from __future__ import annotations

import torch
from timm.models import group_parameters
from torch import nn


def reached_parameters(extractor: nn.Module) -> set[int]:
    """``id`` of every parameter the extractor's outputs depend on (one backward on one image or clip)."""
    params = list(extractor.parameters())
    states = [p.requires_grad for p in params]
    was_training = extractor.training
    extractor.eval()  # no BatchNorm statistics are updated by the probe
    try:
        for p in params:
            p.requires_grad_(True)
        outputs = extractor(torch.zeros(1, *extractor.input_size, device=params[0].device))
        total = sum(o.sum() for o in outputs)
        grads = torch.autograd.grad(total, params, allow_unused=True)
    finally:
        for p, state in zip(params, states, strict=True):
            p.requires_grad_(state)
        extractor.train(was_training)
    return {id(p) for p, g in zip(params, grads, strict=True) if g is not None}


def depth_groups(extractor: nn.Module) -> list[list[nn.Parameter]]:
    """The parameters of ``extractor.model`` (a timm network inside a ``FrameFeatureExtractor``)
    that its read-out layers reach, in timm's block groups from the stem (first) to the deepest
    read block (last)."""
    model = extractor.model
    if not hasattr(model, "group_matcher"):
        raise ValueError(f"{type(model).__name__} has no timm group_matcher: layer_lr_decay and train_last_blocks "
                         "need a timm backbone or a video backbone")
    named = dict(model.named_parameters())
    reached = reached_parameters(extractor)
    groups = group_parameters(model, model.group_matcher(coarse=False))
    ordered = ([named[n] for n in names if id(named[n]) in reached] for _, names in sorted(groups.items()))
    return [g for g in ordered if g]
