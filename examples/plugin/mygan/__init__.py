"""mygan: an example genbench plugin (a tiny MLP GAN living outside the genbench package)."""

from mygan.model import TinyGAN

__all__ = ["TinyGAN"]
