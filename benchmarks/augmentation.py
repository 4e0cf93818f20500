"""Does adding a conditional generator's samples help a classifier trained on few labels? (issue 14, point 6)

For each seed: a labelled subset of the training split (``--labels-per-class`` items per class, or all
of them), each conditional generator (``--generators``) trained on that subset only, and one domain
classifier per arm, all with classic augmentation (random scale and shift): ``classic`` on the subset,
``+GEN`` on the subset plus items sampled from GEN. Held-out accuracy on the whole test split, mean and
standard deviation over the seeds, and each generator arm against ``classic`` paired by seed (t-test
and Wilcoxon). The protocol is :mod:`latentspace.metrics.augmentation`'s.

Usage::

    python benchmarks/augmentation.py --data mnist --data-dir ../shared/data/mnist --labels-per-class 100 --seeds 5
    python benchmarks/augmentation.py --data pottery --data-dir ../shared/data/pottery_profiles --seeds 5
        [--data-option size=32] [--generators cgan,cvae] [--synthetic-per-class N] [--set steps=3000]
        [--set cgan.steps=1000] [--classifier min_steps=1000] [--threads N] [--device cuda]

``--set KEY=VALUE`` sets a generator parameter for every generator, ``--set GEN.KEY=VALUE`` for one
(``steps`` and ``batch_size`` go to ``fit``, the rest to the model). Progress goes to stderr; the last
line of stdout is one JSON object: ``arms`` (per arm ``accuracy`` per seed, ``mean``, ``std``, and for
each generator ``difference`` against ``classic`` with ``p_ttest`` and ``p_wilcoxon``; the same for
``balanced_accuracy``), the settings and ``train_seconds``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import latentspace as ls
from latentspace.cli_data import parse_pairs
from latentspace.errors import UserError
from latentspace.metrics.augmentation import augmentation_experiment
from latentspace.threads import set_threads

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
#: the shared data's folder for the datasets read from files (used when --data-dir is left out)
SHARED_FOLDERS = {"mnist": "mnist", "pottery": "pottery_profiles"}


def generator_params(pairs) -> dict:
    """``["steps=3000", "cgan.mode_seeking=0.1"]`` -> ``{"steps": 3000, "cgan": {"mode_seeking": 0.1}}``."""
    out: dict = {}
    for key, value in parse_pairs(pairs, "--set").items():
        name, dot, param = key.partition(".")
        if dot:
            out.setdefault(name, {})[param] = value
        else:
            out[key] = value
    return out


def load_data(name: str, data_dir: str | None, options: dict):
    """The dataset ``name``, from ``data_dir`` or the shared data's folder when it is read from files."""
    if data_dir is None and name in SHARED_FOLDERS:
        data_dir = str(DEFAULT_DIR / SHARED_FOLDERS[name])
    return ls.data.load(name, **({"data_dir": data_dir} if data_dir else {}), **options)


def p_value(p) -> str:
    return "n/a" if p is None else f"{p:.3g}"


def table(result: dict) -> list[str]:
    """Per arm, accuracy and balanced accuracy: mean +- std, and the paired difference against classic."""
    lines = []
    for arm, r in result["arms"].items():
        for what, s in (("accuracy", r), ("balanced", r["balanced_accuracy"])):
            line = f"  {arm if arm == 'classic' else '+' + arm:<8} {what:<8} {s['mean']:.4f} +- {s['std'] or 0:.4f}"
            if "difference" in s:
                d = s["difference"]
                line += (f"   difference {d['mean']:+.4f} +- {d['std'] or 0:.4f}, "
                         f"p = {p_value(d['p_ttest'])} (t-test), {p_value(d['p_wilcoxon'])} (Wilcoxon)")
            lines.append(line)
    return lines


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="any name or path ls.data.load accepts (mnist, pottery, digits)")
    p.add_argument("--data-dir", help="the data's folder (default: the shared data's, for mnist and pottery)")
    p.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                   help="a loader option (e.g. size=32 for pottery); repeatable")
    p.add_argument("--labels-per-class", type=int, help="labelled items per class (default: every training item)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--generators", default="cgan,cvae", help="comma-separated conditional models")
    p.add_argument("--synthetic-per-class", type=int, help="default: max(n_c, n_max - n_c)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a generator setting; GEN.KEY for one")
    p.add_argument("--classifier", action="append", metavar="KEY=VALUE",
                   help="a classifier setting (a FeatureConfig field, e.g. min_steps=1000); repeatable")
    p.add_argument("--threads", type=int)
    p.add_argument("--device")
    args = p.parse_args(argv)
    threads = set_threads(args.threads)

    data_options = parse_pairs(args.data_option, "--data-option")
    data = load_data(args.data, args.data_dir, data_options)
    generators = tuple(g.strip() for g in args.generators.split(",") if g.strip())
    print(f"{data!r}: {len(generators)} generator(s), {args.seeds} seed(s), {threads} thread(s)", file=sys.stderr)
    result = augmentation_experiment(data, generators, labels_per_class=args.labels_per_class, seeds=args.seeds,
                                     synthetic_per_class=args.synthetic_per_class,
                                     generator_params=generator_params(args.set),
                                     classifier_config=parse_pairs(args.classifier, "--classifier"),
                                     progress=True, device=args.device)
    result = {"data": args.data, "data_options": data_options, "threads": threads, **result}
    print(f"{data.name}: held-out accuracy over {args.seeds} seed(s), {result['train_seconds']:.0f} s")
    print("\n".join(table(result)))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    try:
        main()
    except UserError as e:
        sys.exit(f"error: {e}")
