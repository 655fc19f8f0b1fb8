"""srgan: single-image super-resolution with SRResNet and SRGAN (Ledig et al., CVPR 2017).

>>> import srgan
>>> model = srgan.from_pretrained("srresnet-x4")
>>> big = model.upscale(PIL.Image.open("photo.jpg"))
"""

from .api import SRModel, from_pretrained
from .models import Discriminator, Generator

__version__ = "0.1.0"
__all__ = ["from_pretrained", "SRModel", "Generator", "Discriminator", "__version__"]
