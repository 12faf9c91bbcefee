"""Layer-wise learning rates and partial fine-tuning: the backbone's blocks by depth, their rates,
and that only the last blocks move when ``train_last_blocks`` says so."""

import pytest
import torch

import train
from lightning_modules.networks.backbone_depth import depth_groups
from lightning_modules.networks.backbones import build_backbone
from lightning_modules.settings import OptimisationSettings
from tests.helpers import FAST, REPO
from tests.helpers import fit_tiny as _fit


def test_depth_groups_stop_at_the_deepest_read_layer():
    extractor = build_backbone("resnet18", layers=[2], image_size=32)
    blocks = depth_groups(extractor)
    names = {id(p): n for n, p in extractor.model.named_parameters()}
    first, last = [names[id(p)] for p in blocks[0]], [names[id(p)] for p in blocks[-1]]
    assert "conv1.weight" in first and all(n.startswith("layer2.1.") for n in last)
    kept = {id(p) for block in blocks for p in block}
    # Independent check: exactly the parameters a backward from the read-out reaches.
    extractor.model.zero_grad()
    sum(f.sum() for f in extractor(torch.rand(2, 3, 32, 32))).backward()
    for name, p in extractor.model.named_parameters():
        assert (id(p) in kept) == (p.grad is not None), name
    assert not any(n.startswith(("layer3", "layer4")) for n in map(names.get, kept))
    assert all(p.requires_grad for p in extractor.parameters())  # the probe put the flags back


def test_torchvision_backbone_is_refused_naming_the_settings():
    extractor = build_backbone("torchvision/alexnet", layers=[1], image_size=64)
    with pytest.raises(ValueError, match="layer_lr_decay and train_last_blocks need a timm backbone"):
        depth_groups(extractor)


@pytest.mark.parametrize("field, value", [("layer_lr_decay", 0.0), ("layer_lr_decay", 1.5), ("train_last_blocks", 0)])
def test_out_of_range_settings_are_refused(field, value):
    with pytest.raises(ValueError, match=f"model.optimisation.{field}"):
        OptimisationSettings(**{field: value})


def test_only_the_last_blocks_train_at_decayed_rates(tiny_root, tmp_path):
    flags = ["--model.optimisation.train_last_blocks", "2", "--model.optimisation.layer_lr_decay", "0.5",
             "--model.optimisation.freeze_backbone_epochs", "0", "--model.optimisation.lr", "0.01",
             "--model.optimisation.backbone_lr_scale", "0.3", "--model.ridge.fit", "false"]
    cli = _fit(tiny_root, tmp_path, "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "1", *flags)
    fresh = train.main(["--config", str(REPO / "configs/demo.yaml"), *FAST, "--data.root", str(tiny_root),
                        "--data.synthetic", "null", *flags], run=False).model
    blocks = depth_groups(fresh.model.backbone)
    trained = dict(cli.model.model.backbone.named_parameters())
    names = {id(p): n for n, p in fresh.model.backbone.named_parameters()}
    for depth, block in enumerate(blocks):
        moved = [not torch.equal(trained[names[id(p)]], p) for p in block]
        # Pinned blocks take no part in backward at all (no gradient computed), not only no step.
        grads = {trained[names[id(p)]].requires_grad for p in block}
        if depth < len(blocks) - 2:
            assert not any(moved) and grads == {False}, f"block {depth} of {len(blocks)} is pinned but trained"
        else:
            assert any(moved) and grads == {True}, f"block {depth} of {len(blocks)} should train"
    rates = {g["name"]: g["initial_lr"] for g in cli.trainer.optimizers[0].param_groups}
    top = len(blocks) - 1
    assert rates == pytest.approx({"heads": 0.01, f"backbone.block{top}": 0.003,
                                   f"backbone.block{top - 1}": 0.0015})


def test_blocks_are_pinned_at_set_up_and_building_optimisers_changes_no_flag():
    from lightning_modules.settings import BackboneSettings, RidgeSettings
    from lightning_modules.system import EncodingModel

    model = EncodingModel(voxel_counts={"sub01": {"V1": 3}}, image_size=32,
                          backbone=BackboneSettings(name="resnet18", pretrained=False, layers=[2]),
                          optimisation=OptimisationSettings(train_last_blocks=2, layer_lr_decay=0.5),
                          ridge=RidgeSettings(fit=False))
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    groups = model._backbone_groups()  # what configure_optimizers builds its optimiser from
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags and all(flags.values())
    model.setup("fit")
    blocks = depth_groups(model.model.backbone)
    assert all(not p.requires_grad for block in blocks[:-2] for p in block)
    assert all(p.requires_grad for block in blocks[-2:] for p in block)
    assert [g["params"] for g in groups] == blocks[-2:]
