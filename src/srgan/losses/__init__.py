"""Losses (Ledig et al. 2017, Sec. 2.2): the functions in :mod:`.functional`, the recipe's
weighted terms in :mod:`.terms`, and the name table in :mod:`.registry`."""

from .functional import (
    VGG19_URL,
    VGGLoss,
    VGGWeightsError,
    adversarial_g_loss,
    block_loss,
    block_profile,
    chroma_loss,
    discriminator_loss,
    feature_matching_loss,
    lattice_loss,
    load_vgg19_weights,
    pixel_loss,
    shift_equivariance_loss,
    window_lr,
)
from .registry import LOSSES, LossSpecError, Objective, build_term, describe, legacy_terms
from .terms import LossContext, LossTerm

__all__ = [
    "VGG19_URL",
    "VGGLoss",
    "VGGWeightsError",
    "adversarial_g_loss",
    "block_loss",
    "block_profile",
    "chroma_loss",
    "discriminator_loss",
    "feature_matching_loss",
    "lattice_loss",
    "load_vgg19_weights",
    "pixel_loss",
    "shift_equivariance_loss",
    "window_lr",
    "LOSSES",
    "LossSpecError",
    "Objective",
    "build_term",
    "describe",
    "legacy_terms",
    "LossContext",
    "LossTerm",
]
