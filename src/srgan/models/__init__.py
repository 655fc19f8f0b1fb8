"""Network architectures as plain ``nn.Module``s."""
from .discriminator import Discriminator
from .generator import Generator
from .vgg import VGG19Features

__all__ = ["Generator", "Discriminator", "VGG19Features"]
