"""Train CycleGAN from a dataset name or two folders of images. See ``python train.py --help``."""
import sys

from cyclegan.config import parse_args
from cyclegan.data import DataError
from cyclegan.download import DownloadError
from cyclegan.hub import ModelNotFoundError


def main(argv: list[str] | None = None) -> int:
    train_cfg, model_cfg = parse_args(argv)
    from cyclegan.distributed import distributed
    from cyclegan.training import Trainer
    try:
        with distributed(train_cfg.device):
            trainer = Trainer(train_cfg, model_cfg)
            trainer.fit()
    except (DataError, DownloadError, ModelNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 130 if trainer.stop_requested else 0  # interrupted: the shell's code for Ctrl-C


if __name__ == "__main__":
    sys.exit(main())
