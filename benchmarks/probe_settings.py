"""How well the domain probe tells a dataset's two real test domains apart, by its settings: the logistic
regression's regularisation C and how many train images per domain it is fitted on.

    python -m benchmarks.probe_settings --dataset summer2winter_yosemite
    python -m benchmarks.probe_settings --dataroot DATA --c 0.001,0.1 --train 500,0

For each setting: the fraction of the real target test images the probe puts in the target domain (B), the fraction
of the real source test images it puts there (A), and the balanced accuracy, (rate_B + 1 - rate_A) / 2. A probe
that cannot tell real winters from real summers cannot judge translated ones either: read a domain rate against the
real target's. Inception features come from ``cyclegan.evaluate``'s cache when it has them. Prints a Markdown table
and writes benchmarks/results/probe_settings.json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.common import markdown_table, write_results
from cyclegan.images import list_images
from cyclegan.inception import InceptionFeatures, cached_features, features_cache_dir
from cyclegan.probe import DomainProbe, spread_files


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.probe_settings",
                                description=__doc__.strip().split("\n")[0])
    p.add_argument("--dataroot", type=Path, help="folder with trainA/ trainB/ testA/ testB/")
    p.add_argument("--dataset", help="a dataset by name instead, as train.py takes it")
    p.add_argument("--data-dir", default="datasets", help="where --dataset unpacks its downloads")
    p.add_argument("--c", default="0.001,0.01,0.1,1", help="values of C, comma-separated")
    p.add_argument("--train", default="500,0", help="train images per domain, comma-separated (0: all)")
    p.add_argument("--out", help="JSON path (default benchmarks/results/probe_settings.json)")
    args = p.parse_args(argv)
    if bool(args.dataroot) == bool(args.dataset):
        p.error("give --dataroot or --dataset")
    if args.dataset:
        from cyclegan.datasets import dataset_folder
        root = dataset_folder(args.dataset, args.data_dir)
    else:
        root = args.dataroot
    extractor = InceptionFeatures()
    features = {split: cached_features(list_images(root / split), extractor, None, 32, features_cache_dir(), split,
                                       True) for split in ("trainA", "trainB", "testA", "testB")}
    rows = []
    for n in (int(v) for v in args.train.split(",")):
        def spread(x):  # the same images evaluate's --probe-max N takes
            return x[spread_files(range(len(x)), n)]
        for c in (float(v) for v in args.c.split(",")):
            probe = DomainProbe(spread(features["trainB"]), spread(features["trainA"]), C=c)
            rate_b, rate_a = probe.rate(features["testB"]), probe.rate(features["testA"])
            rows.append({"train": n or "all", "C": c, "rate_B": round(rate_b, 3), "rate_A": round(rate_a, 3),
                         "balanced_accuracy": round((rate_b + 1 - rate_a) / 2, 3)})
            print(rows[-1], flush=True)
    print(markdown_table(rows, [("train", "train images a domain"), ("C", "C"),
                                ("rate_B", "real B test put in B"), ("rate_A", "real A test put in B"),
                                ("balanced_accuracy", "balanced accuracy")]))
    print(f"wrote {write_results('probe_settings', {'dataroot': str(root), 'rows': rows}, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
