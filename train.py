"""Train CycleGAN from a dataset name or two folders of images. See ``python train.py --help``.

The command line is cyclegan/cli.py's, also installed as ``cyclegan-train``."""
import sys

from cyclegan.cli import train as main

if __name__ == "__main__":
    sys.exit(main())
