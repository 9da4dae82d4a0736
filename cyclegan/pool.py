"""The image history pool (Shrivastava et al. 2017): D sees a mix of current and past fakes."""
from __future__ import annotations

import torch


class ImagePool:
    """Holds up to ``size`` generated images; ``query`` returns a batch of the same shape.

    Until full, every new image is stored and returned. Afterwards each image is, with
    probability 1/2, returned as is, or swapped with a random stored image, which is returned instead.
    Randomness comes from torch's RNG so that checkpoints restore it exactly.
    """

    def __init__(self, size: int = 50):
        self.size = size
        self.images: list[torch.Tensor] = []

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()).item() < 0.5:
                i = int(torch.randint(len(self.images), ()).item())
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out)

    def state_dict(self) -> dict:
        return {"size": self.size, "images": [im.cpu() for im in self.images]}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.size = state["size"]
        self.images = [im.to(device) for im in state["images"]]
