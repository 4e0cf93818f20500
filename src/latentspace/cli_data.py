"""The data options of the ``latentspace`` commands that load data, and ``latentspace data``.

``train``, ``evaluate``, ``plot``, ``compare`` and ``data`` share one group of options: where a
registered dataset's files are (``--data-dir``, ``--download``), the classes to keep, the image
size, and how a collection of images (a folder or a ``.zip``) is labelled and filtered
(``--labels``, ``--label-pattern``, ``--class-depth``, ``--min-per-class``, ``--drop-unlabelled``);
and any other option of the loader with ``--data-option KEY=VALUE`` (e.g. the pottery loader's
``scale=common``).

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser()
>>> add_data_options(p)
>>> data_options(p.parse_args(["--labels", "pots.csv", "--min-per-class", "5"]))
{'labels': 'pots.csv', 'min_per_class': 5}
"""

from __future__ import annotations

import argparse
import json

#: argparse name -> (flag, takes a value): the options ``latentspace.data.load`` receives
DATA_OPTIONS = {"data_dir": ("--data-dir", True), "download": ("--download", False),
                "classes": ("--classes", True), "size": ("--size", True), "labels": ("--labels", True),
                "label_pattern": ("--label-pattern", True), "class_depth": ("--class-depth", True),
                "min_per_class": ("--min-per-class", True), "drop_unlabelled": ("--drop-unlabelled", False)}


def add_data_options(q: argparse.ArgumentParser, *, of_run: bool = False, classes: bool = True) -> None:
    """Add the shared data options to the command parser ``q``.

    ``of_run``: the command reads a run's own data unless ``--data`` is given (defaults are the run's);
    ``classes``: offer ``--classes``.
    """
    runs, default = (" (default: the run's)", "the run's") if of_run else ("", "64")
    q.add_argument("--data-dir", help="folder with the dataset's files (mnist, fashion-mnist, pottery, birdsong)")
    q.add_argument("--download", action="store_true", help="download the dataset (checksums verified)")
    if classes:
        q.add_argument("--classes", help="keep only these classes of a labelled dataset, e.g. chair or 3,5,8")
    q.add_argument("--data-option", action="append", metavar="KEY=VALUE",
                   help="any other option of the dataset's loader, e.g. --data-option scale=common for pottery "
                        "(values read as JSON when they can be); repeatable")
    q.add_argument("--size", type=int, help="folders of images: the side of the square the images are resized and "
                                            f"padded to (default {default}); volume files: the grid's side "
                                            "(default 32); pottery, birdsong: the item's side")
    g = q.add_argument_group(f"collections of images (a folder or a .zip){runs}")
    g.add_argument("--labels", metavar="FILE.csv",
                   help="a CSV/TSV table with a header row and columns file,label: the class of each image (paths "
                        "relative to the collection, sub-folders allowed)")
    g.add_argument("--label-pattern", metavar="REGEX",
                   help="the class of each image: the group (?P<label>...) of REGEX searched in its path relative "
                        "to the collection, e.g. '^(?P<label>[^_/]+)_'")
    g.add_argument("--class-depth", type=int, metavar="N",
                   help="the folder level naming classes: 1 (default) <class>/img.png, 2 <site>/<class>/img.png, "
                        "0 no labels from folders")
    g.add_argument("--min-per-class", type=int, metavar="N",
                   help="drop classes with fewer than N images (training images when train/ and test/ are given)")
    g.add_argument("--drop-unlabelled", action="store_true",
                   help="leave out images without a label (not in --labels, not matched by --label-pattern, above "
                        "the class folders) instead of refusing the collection")


def parse_pairs(pairs, flag: str = "--data-option") -> dict:
    """``["scale=common", "quantile=0.9"]`` -> ``{"scale": "common", "quantile": 0.9}`` (values read as JSON
    when they can be); ``flag`` names the option in the error message."""
    from latentspace.errors import UserError

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} expects key=value, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def data_options(args) -> dict:
    """The shared data options given on the command line, as ``latentspace.data.load`` keywords."""
    given = {k: getattr(args, k, None) for k in DATA_OPTIONS}
    named = {k: v for k, v in given.items() if v is not None and v is not False and v != ""}
    return {**parse_pairs(getattr(args, "data_option", None)), **named}


def data_argv(args) -> list:
    """The shared data options given on the command line, as arguments for another command."""
    out = []
    for key, value in data_options(args).items():
        if key not in DATA_OPTIONS:
            out += ["--data-option", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
            continue
        flag, takes_value = DATA_OPTIONS[key]
        out += [flag, str(value)] if takes_value else [flag]
    return out


def cmd_data(args) -> int:
    """``latentspace data NAME_OR_PATH``: load the data as ``train`` would and print its summary."""
    import latentspace as ls

    print(ls.data.load(args.source, **data_options(args)).summary())
    return 0


def add_data_command(sub) -> None:
    """The ``latentspace data`` command on the sub-command parsers ``sub``."""
    q = sub.add_parser("data", help="load a dataset as train would and print what was loaded: items per class, "
                                    "files left out and why")
    q.add_argument("source", metavar="NAME_OR_PATH", help="dataset name, a folder or .zip of images, or a .npy/.npz")
    add_data_options(q)
    q.set_defaults(func=cmd_data)
