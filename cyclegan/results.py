"""What an evaluation measured, typed: ``Evaluation`` (``cyclegan.evaluate`` returns it; the model card
(``cyclegan.card``), training's ``--eval-every`` and the benchmarks read it), its ``Scores``, ``Ratio``,
``Baseline`` and ``Probe``. ``to_dict`` / ``from_dict`` are its JSON, whose keys are the fields' names.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class Scores:
    """One set of pictures (the translations, or the untranslated inputs) scored against the reference: FID; KID as
    the mean and spread over random subsets and on the whole sets with its 95 % bootstrap interval (all ×1, not
    ×10³); the domain rate (with a probe); L1 ([0, 1] pixels), PSNR (dB) and SSIM where the folders pair by name."""

    fid: float
    kid_mean: float
    kid_std: float
    kid: float
    kid_low: float
    kid_high: float
    domain_rate: float | None = None
    l1: float | None = None
    psnr: float | None = None
    ssim: float | None = None


@dataclass
class Ratio:
    """KID of the translations over the untranslated inputs' (``kid``), its 95 % interval, and how it reads:
    "lower", "higher" or "no measurable difference" (the interval holds 1)."""

    kid: float
    low: float
    high: float
    reading: str


@dataclass
class Baseline:
    """A second model that translated the same inputs: its KID with its interval and domain rate, and the ratio of
    the two KIDs (this model over the baseline) with a paired interval and its reading."""

    kid: float
    kid_low: float
    kid_high: float
    domain_rate: float | None
    ratio: float
    ratio_low: float
    ratio_high: float
    reading: str


@dataclass
class Probe:
    """The training pictures the domain probe was fitted on."""

    source_dir: str
    target_dir: str
    num_source: int
    num_target: int


@dataclass
class Evaluation:
    """What ``evaluate`` measured: the set-up (folders, counts, size, KID's settings), the translations' and the
    untranslated inputs' ``Scores``, their KID ``Ratio``, the probe's rate on the real targets, and a ``Baseline``
    when one was given. The card (``model_folder.write_eval_results``), training's ``--eval-every`` and the
    benchmarks read it; ``to_dict`` / ``from_dict`` are its JSON (the keys are the fields)."""

    direction: str
    input_dir: str
    target_dir: str
    num_input: int
    num_target: int
    paired: bool
    size: int | None
    native_size: int | None
    reference_dirs: list[str]
    kid_subsets: int
    kid_subset_size: int
    bootstrap_rounds: int
    translated: Scores
    identity: Scores
    ratio: Ratio
    baseline: Baseline | None = None
    domain_rate_target: float | None = None
    probe: Probe | None = None
    seconds: float = 0.0
    model: str | None = None  # what was evaluated, and against what, as the command named them
    baseline_model: str | None = None
    command: str | None = None  # the command that reproduces the figures (the card shows it)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Evaluation":
        """An evaluation from its JSON (``to_dict``, or a file of ``python -m cyclegan.evaluate --json``)."""
        parts = {"translated": Scores, "identity": Scores, "ratio": Ratio, "baseline": Baseline, "probe": Probe}
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (parts[k](**v) if k in parts and v is not None else v) for k, v in d.items() if k in names})
