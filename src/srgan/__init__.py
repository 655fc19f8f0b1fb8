"""srgan: single-image super-resolution with SRResNet and SRGAN (Ledig et al., CVPR 2017)."""
__version__ = "0.1.0"
