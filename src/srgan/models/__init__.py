"""Network architectures as plain ``nn.Module``s."""
from .discriminator import Discriminator
from .generator import Generator

__all__ = ["Generator", "Discriminator"]
