"""The two translation directions of a CycleGAN model, and the one place a requested direction is checked."""
from __future__ import annotations

from enum import Enum
from typing import Iterable, TypeVar

T = TypeVar("T")


class Direction(str, Enum):
    """``AtoB`` (domain A into domain B, generator G_AB) or ``BtoA`` (G_BA).

    A ``str``, so ``Direction.AtoB == "AtoB"``, it prints as ``AtoB`` and JSON writes it as a string: the
    names are those of the API, the CLIs and the model folders' manifests.
    """
    AtoB = "AtoB"
    BtoA = "BtoA"

    __str__ = str.__str__
    __format__ = str.__format__

    @classmethod
    def parse(cls, value: str | Direction) -> Direction:
        """``value`` as a Direction; ``ValueError`` in one line for anything but "AtoB" or "BtoA"."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"Unknown direction {value!r}: use 'AtoB' or 'BtoA'.") from None

    @property
    def generator(self) -> str:
        """The name of the direction's generator, and of its subfolder in a model folder: ``G_AB`` or ``G_BA``."""
        return "G_AB" if self is Direction.AtoB else "G_BA"

    @property
    def reverse(self) -> Direction:
        """The direction that translates back (a reconstruction runs the reverse generator)."""
        return Direction.BtoA if self is Direction.AtoB else Direction.AtoB

    def ends(self, a: T, b: T) -> tuple[T, T]:
        """(source, target) among the A-side and B-side things ``a`` and ``b`` (domain names, test folders)."""
        return (a, b) if self is Direction.AtoB else (b, a)


def require(value: Direction | str, available: Iterable[Direction | str], domain_a: str = "A", domain_b: str = "B",
            model: str = "this model") -> Direction:
    """``value`` as a Direction that ``model`` has a generator for (``available``); ``ValueError`` in one line for an
    unknown name, or for the direction a one-direction model lacks (either one: a folder may hold G_AB or G_BA)."""
    direction = Direction.parse(value)
    available = [Direction.parse(d) for d in available]
    if direction in available:
        return direction
    src, dst = direction.ends(domain_a, domain_b)
    has = available[0] if available else direction.reverse
    has_src, has_dst = has.ends(domain_a, domain_b)
    raise ValueError(f"{model} has no {direction} generator ({src} -> {dst}): it is a one-direction model that "
                     f"translates {has_src} → {has_dst} only; use direction '{has}'.")
