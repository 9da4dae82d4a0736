"""Train CycleGAN from a dataset name or two folders of images. See ``python train.py --help``."""
import sys

from cyclegan.config import parse_args


def main(argv: list[str] | None = None) -> int:
    train_cfg, model_cfg = parse_args(argv)
    # Imported only now: they load torch (seconds), which --help and argument errors do not need.
    from cyclegan.distributed import distributed
    from cyclegan.errors import CheckpointError, DataError, DownloadError, ModelNotFoundError
    from cyclegan.training import Trainer
    try:
        with distributed(train_cfg.device):
            trainer = Trainer(train_cfg, model_cfg)
            names, stem = train_cfg.domain_names(), train_cfg.run_name()
            if trainer.is_main and names == (f"{stem} A", f"{stem} B"):  # the fallback: nothing named them
                print(f"note: the model card and the app will call the domains {names[0]!r} and {names[1]!r}; "
                      "name them with --name-a and --name-b", file=sys.stderr)
            trainer.fit()
    except (CheckpointError, DataError, DownloadError, ModelNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 130 if trainer.stop_requested else 0  # interrupted: the shell's code for Ctrl-C


if __name__ == "__main__":
    sys.exit(main())
