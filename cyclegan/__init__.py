"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation in PyTorch."""
from .config import ModelConfig, TrainConfig
from .networks import Discriminator, Generator, ResnetBlock

__all__ = ["Discriminator", "Generator", "ModelConfig", "ResnetBlock", "TrainConfig", "Translator"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Imported on first use, so that `python -m cyclegan.translate` does not find it already loaded.
    if name == "Translator":
        from .translate import Translator
        return Translator
    raise AttributeError(f"module 'cyclegan' has no attribute {name!r}")
