"""The two translation directions of a CycleGAN model, and the one place their names are parsed."""
from __future__ import annotations

from enum import Enum
from typing import TypeVar

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
    def reverse(self) -> Direction:
        """The direction that translates back (a reconstruction runs the reverse generator)."""
        return Direction.BtoA if self is Direction.AtoB else Direction.AtoB

    def ends(self, a: T, b: T) -> tuple[T, T]:
        """(source, target) among the A-side and B-side things ``a`` and ``b`` (domain names, test folders)."""
        return (a, b) if self is Direction.AtoB else (b, a)
