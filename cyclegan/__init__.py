"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation in PyTorch."""
from .config import ModelConfig, TrainConfig
from .networks import Discriminator, Generator, ResnetBlock
from .translate import Translator

__all__ = ["Discriminator", "Generator", "ModelConfig", "ResnetBlock", "TrainConfig", "Translator"]
__version__ = "0.1.0"
