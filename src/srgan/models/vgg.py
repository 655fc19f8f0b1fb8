"""VGG19 feature extractor for the perceptual (content) loss, without torchvision.

Layer indices follow torchvision's ``vgg19().features`` so its ImageNet weights
load unchanged. The paper's phi_{i,j} is "the feature map obtained by the j-th
convolution (after activation) before the i-th max-pooling" (Ledig et al. 2017,
Sec. 2.2.1): phi_5,4 = ``relu5_4`` = ``features[:36]``. The spec's code uses
``features[:34]``, which ends after ``relu5_3``.
"""

from __future__ import annotations

from torch import nn

__all__ = ["VGG19Features", "VGG19_LAYERS", "layer_index"]

_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def _layer_names() -> dict[str, int]:
    names, block, conv, idx = {}, 1, 0, 0
    for v in _CFG:
        if v == "M":
            names[f"pool{block}"] = idx
            block, conv, idx = block + 1, 0, idx + 1
        else:
            conv += 1
            names[f"conv{block}_{conv}"] = idx
            names[f"relu{block}_{conv}"] = idx + 1
            idx += 2
    return names


VGG19_LAYERS: dict[str, int] = _layer_names()


def layer_index(name: str) -> int:
    """Index in ``features`` of a named layer, e.g. ``relu5_4`` -> 35, ``relu2_2`` -> 8."""
    if name not in VGG19_LAYERS:
        raise ValueError(f"unknown VGG19 layer '{name}' (e.g. relu2_2, relu5_3, relu5_4, conv5_4)")
    return VGG19_LAYERS[name]


class VGG19Features(nn.Module):
    """``features`` of VGG19 (Simonyan & Zisserman 2015), truncated after ``last_layer``."""

    def __init__(self, last_layer: str = "relu5_4") -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in _CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=False)]
                c = v
        self.features = nn.Sequential(*layers[: layer_index(last_layer) + 1])

    def forward(self, x):
        return self.features(x)
