"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation in PyTorch."""
from .config import ModelConfig, TrainConfig
from .direction import Direction

__all__ = ["Direction", "Discriminator", "Generator", "ModelConfig", "ResnetBlock", "TrainConfig", "Translator"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # The torch-backed names are imported on first use: `python train.py --help` needs only the config
    # (torch takes seconds to import), and `python -m cyclegan.translate` must not find itself already loaded.
    if name == "Translator":
        from .translate import Translator
        return Translator
    if name in ("Discriminator", "Generator", "ResnetBlock"):
        from . import networks
        return getattr(networks, name)
    raise AttributeError(f"module 'cyclegan' has no attribute {name!r}")
