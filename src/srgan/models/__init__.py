"""Network architectures as plain ``nn.Module``s, found by name through :mod:`.registry`."""

from .discriminator import Discriminator
from .generator import Generator
from .leftthomas import LeftthomasGenerator
from .msrresnet import MSRResNet
from .registry import (
    ARCHITECTURES,
    ArchError,
    build_discriminator,
    build_generator,
    generator_config,
    get_arch,
    receptive_radius,
)
from .rrdbnet import RRDBNet
from .srvgg import SRVGGNetCompact
from .vgg import VGG19Features

__all__ = [
    "Generator",
    "Discriminator",
    "VGG19Features",
    "RRDBNet",
    "SRVGGNetCompact",
    "MSRResNet",
    "LeftthomasGenerator",
    "ARCHITECTURES",
    "ArchError",
    "build_generator",
    "build_discriminator",
    "generator_config",
    "get_arch",
    "receptive_radius",
]
