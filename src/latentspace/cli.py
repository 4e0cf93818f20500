"""The ``latentspace`` command line: list, train, sample and evaluate without writing code.

Torch and the models are imported inside the commands, so ``latentspace --help`` is quick.
Bad input ends with a one-line ``error: ...`` naming the problem and the fix, and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from latentspace.cli_complete import add_complete_command
from latentspace.cli_data import add_data_command, add_data_options, data_argv, parse_pairs
from latentspace.cli_data import data_options as _data_options

EXIT_USAGE = 2
#: how to give the data when a run does not say what it was trained on
DATA_HINT = "; give --data NAME_OR_PATH"


def _data_label(source) -> str:
    """A dataset's name for a default run folder: a registry name, a folder's name, a file's stem."""
    path = Path(str(source))
    return path.stem if path.is_file() else path.name


def _parse_set(pairs: list[str]) -> dict:
    """``["lr=1e-3", "pac=4"]`` -> ``{"lr": 1e-3, "pac": 4}`` (values parsed as JSON when they can be)."""
    return parse_pairs(pairs, "--set")


def _same_source(a: dict, b: dict) -> bool:
    """Whether two recorded data sources name the same dataset (a registered name, or the same file)."""
    def key(source):
        name = str(source.get("name_or_path"))
        path = Path(name).expanduser()
        return str(path.resolve()) if path.exists() else name

    return key(a) == key(b)


def _load_data(source: str, options: dict):
    import latentspace as ls

    return ls.data.load(source, **options)


def _check_data_b(args) -> bool:
    """Whether the model trains on two domains; refuse --data-b for other models and its absence for these."""
    import latentspace as ls
    from latentspace.errors import UserError

    model_class = ls.models.registry().get(args.model)
    if model_class is None:  # create() names the valid models
        return False
    two_domains = model_class.two_domains
    if args.data_b is not None and not two_domains:
        raise UserError(f"--data-b is for models that translate between two domains (cyclegan); "
                        f"{args.model!r} trains on --data alone")
    if two_domains and args.data_b is None and not args.resume:
        raise UserError(f"{args.model} translates between two domains: give domain A with --data and domain B "
                        "with --data-b (e.g. --data mnist-half --data-b bold-mnist)")
    return two_domains


# -- commands -------------------------------------------------------------------------------
def cmd_list(args) -> int:
    import latentspace as ls

    what = args.what or "all"
    if what in ("models", "all"):
        print("models:")
        for name, cls in sorted(ls.models.registry().items()):
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            print(f"  {name:<12} {doc}")
    if what in ("datasets", "all"):
        print("datasets:")
        for name, desc in ls.data.available().items():
            print(f"  {name:<14} {desc}")
        print("  PATH           a folder or .zip of images (sub-folders = classes) or a .npy/.npz array")
    return 0


#: the training settings of ``latentspace train`` (argparse names), passed to ``fit`` when given
TRAIN_SETTINGS = ("steps", "batch_size", "seed", "log_every", "sample_every", "checkpoint_every", "time")


def _train_settings(args) -> dict:
    """The training settings given on the command line (None: not given), refused when out of range."""
    from latentspace.train.engine import check_counts

    given = {k: getattr(args, k) for k in TRAIN_SETTINGS}
    check_counts(given, flag=lambda name: "--" + name.replace("_", "-"))
    return given


def _announcer(line: str | None):
    """A callback printing ``line`` on stderr when training starts, after the run folder's checks."""
    from latentspace.train.callbacks import Callback

    class Say(Callback):
        def on_start(self, model, data, cfg, start, world):
            if line:
                of = f" of {cfg.steps}" if cfg.time is None else ""
                budget = f", for {_seconds(cfg.time)}" if cfg.time is not None else ""
                print(line + budget + (f" (resuming at step {start}{of})" if start else ""), file=sys.stderr)
                note = model.sizing_note(cfg)
                if note:
                    print(note, file=sys.stderr)

    return Say()


def _said_beside_the_bar(line: str) -> None:
    """A line on stderr that leaves a progress bar whole (tqdm.write)."""
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


def cmd_train(args) -> int:
    import latentspace as ls
    from latentspace.errors import UserError
    from latentspace.train import run as runfolder
    from latentspace.runs import read_config
    from latentspace.train.callbacks import ProgressBar, TensorBoard, TimeEstimate

    params = _parse_set(args.set)
    settings = _train_settings(args)
    two_domains = _check_data_b(args)
    out = Path(args.out or f"runs/{args.model}-{_data_label(args.data) if args.data else 'resume'}")
    is_main = int(os.environ.get("RANK", "0")) == 0  # under torchrun, only rank 0 writes and speaks
    callbacks = [TensorBoard(out / "tensorboard")] if args.tensorboard and is_main else []  # refused before any work
    data_source, data_opts = args.data, _data_options(args)
    data_b_source, data_b_opts = args.data_b, _data_options(args)
    source: dict = {}  # the run's data, when resuming
    if args.resume:
        config = read_config(out)  # {} for a folder without one
        if not config:
            raise UserError(f"nothing to resume in {out}: no {runfolder.CONFIG}; drop --resume to start a new run")
        if config["model"] != args.model:
            raise UserError(f"{out} holds a run of model {config['model']!r}, not {args.model!r}; "
                            f"use `latentspace train {config['model']} --resume --out {out}`")
        params = {**config["params"], **params}
        settings = runfolder.resume_settings(out, settings)  # what is not given again is the run's
        source = config.get("data") or {}
        if data_source is None:
            data_source, data_opts = source.get("name_or_path"), {**source.get("options", {}), **data_opts}
        if two_domains and data_b_source is None and source.get("data_b"):  # cyclegan's domain B
            data_b_source = source["data_b"].get("name_or_path")
            data_b_opts = {**source["data_b"].get("options", {}), **data_b_opts}
    elif is_main:
        runfolder.prepare(out, resume=False, overwrite=args.overwrite)  # refuse before any work
    if data_source is None:
        raise UserError("give the data to train on with --data NAME_OR_PATH (see `latentspace list datasets`)")
    model = ls.models.create(args.model, **params)
    data = _load_data(data_source, data_opts)
    if is_main and data.notes is not None:  # a collection of images: what was loaded, and what left out
        print(data.summary(), file=sys.stderr)
    if args.resume and source.get("name_or_path") and not _same_source(data.source, source):
        raise UserError(f"{out} is a run on {source['name_or_path']!r}, not {data.source['name_or_path']!r}; resume it "
                        "on its own data (drop --data) or train on the other data with another --out")
    fit_b = {}
    if two_domains:
        if data_b_source is None:
            raise UserError(f"{out} does not say what {args.model}'s domain B was; "
                            "give it with --data-b NAME_OR_PATH")
        fit_b = {"data_b": _load_data(data_b_source, data_b_opts)}
    announce = f"training {args.model} on {data!r}" + (f" and {fit_b['data_b']!r}" if fit_b else "") + f" -> {out}"
    given = {k: v for k, v in settings.items() if v is not None}  # the model's defaults for the rest
    if model.iterative:
        # Said once every check has passed (the run folder's disk-space check included), then the bar.
        callbacks = [_announcer(announce if is_main else None), *([ProgressBar()] if not args.no_progress else []),
                     TimeEstimate(say=_said_beside_the_bar), *callbacks]
        try:
            model.fit(data, **given, out=out, resume=args.resume, overwrite=args.overwrite, progress=False,
                      device=args.device, callbacks=callbacks, **fit_b)
        except KeyboardInterrupt as e:
            if "--resume" in str(e):  # say how, in full: no other option is needed
                e.args = (f"{e}: latentspace train {args.model} --resume --out {out}",)
            raise
    else:
        if args.resume:
            raise UserError(f"{args.model!r} is fitted in one go and has nothing to resume; drop --resume")
        if is_main:
            print(announce, file=sys.stderr)
        model.fit(data, seed=settings["seed"], out=out, overwrite=args.overwrite)
    if is_main:
        print(f"saved {out / 'model'}; next: latentspace evaluate {out}", file=sys.stderr)
    return 0


def cmd_sample(args) -> int:
    from latentspace.cli_output import ITEM_FORMATS, SOUND_FORMATS, new_output, npy_bytes, wav_outputs, write_wavs
    from latentspace.errors import UserError
    from latentspace.runs import load_run
    from latentspace.storage import atomic_write_bytes

    out = new_output(args.out, args.overwrite, ITEM_FORMATS + SOUND_FORMATS)
    if args.n < 1:
        raise UserError(f"--n must be a positive integer, got {args.n}")
    model, _ = load_run(args.run)
    sounds = wav_outputs(out, args.n, model.info_, args.overwrite) if out.suffix.lower() in SOUND_FORMATS else None
    x = model.sample(args.n, seed=args.seed)
    if sounds is not None:
        write_wavs(x, model.info_, sounds)
        out = f"{sounds[0]} ... {sounds[-1].name}" if len(sounds) > 1 else sounds[0]
    elif out.suffix.lower() == ".npy":
        atomic_write_bytes(out, npy_bytes(x.numpy()))
    else:
        from latentspace.plots import save_samples

        save_samples(x, model.info_, out)
    print(f"wrote {args.n} samples to {out}", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from latentspace.metrics import evaluate, format_results
    from latentspace.runs import RESULTS, check_shapes, is_run, load_run, run_data
    from latentspace.storage import atomic_write_json

    run = Path(args.run)
    model, config = load_run(run)
    if args.data:
        data = _load_data(args.data, _data_options(args))
    else:  # a two-domain model's samples are translations A -> B: they are compared with domain B
        data = run_data(run, config, options=_data_options(args), for_samples=True, hint=DATA_HINT)
    check_shapes(model, data, "evaluate on the data it was trained on")
    nll_items = "auto" if args.nll_items is None else (args.nll_items or None)
    results = evaluate(model, data, n=args.n, seed=args.seed, nll_items=nll_items,
                       features=args.features, progress=not args.no_progress)
    print(format_results(results))
    out = Path(args.out) if args.out else (run / RESULTS if is_run(run) else None)
    if out is not None:
        atomic_write_json(out, results)
        print(f"wrote {out}", file=sys.stderr)
    return 0


def cmd_plot(args) -> int:
    from latentspace.errors import UserError
    from latentspace.plots import FIGURE_FORMATS, NEEDS_ITEMS, check_picture, latent_picture, save_figure
    from latentspace.runs import check_shapes, load_run, run_data

    out = Path(args.out)
    if out.suffix.lower() not in FIGURE_FORMATS:
        raise UserError(f"--out must end in {', '.join(FIGURE_FORMATS)}, got {out.name!r}")
    if out.is_dir():
        raise UserError(f"{out} is a folder; give a file name for --out")
    if out.exists() and not args.overwrite:
        raise UserError(f"{out} already exists; pass --overwrite to replace it or choose another --out")
    if args.n is not None and args.n < 1:
        raise UserError(f"--n must be a positive integer, got {args.n}")
    check_picture(args.kind, n=args.n, method=args.method)  # before loading anything
    model, config = load_run(args.run)
    check_picture(args.kind, model, n=args.n, method=args.method, label=args.label)
    needed = args.kind in NEEDS_ITEMS
    if args.data:
        data = _load_data(args.data, _data_options(args))
    elif needed or args.kind == "traversal":  # a traversal starts from a training item when it can
        data = run_data(args.run, config, options=_data_options(args), required=needed, hint=DATA_HINT)
    else:
        data = None
    if data is not None:
        check_shapes(model, data, "give the data it was trained on")
    fig = latent_picture(args.kind, model, data, n=args.n, method=args.method, seed=args.seed, label=args.label)
    save_figure(fig, out)
    print(f"wrote {args.kind} of {model.name} to {out}", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from latentspace.report import write_report

    path = write_report(args.run, args.out, n=args.n, seed=args.seed, overwrite=args.overwrite,
                        progress=not args.no_progress)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def _check_compare(args) -> Path:
    """Refuse bad ``latentspace compare`` input before any work: models, numbers, existing output."""
    import latentspace as ls
    from latentspace.errors import UserError
    from latentspace.report import REPORT
    from latentspace.train import run as runfolder

    known = ls.models.registry()
    for name in args.models:
        if name not in known:
            raise UserError(f"unknown model {name!r}; use one of: {', '.join(sorted(known))}")
    twice = sorted({m for m in args.models if args.models.count(m) > 1})
    if twice:
        raise UserError(f"model {twice[0]!r} is given twice; name each model once")
    for flag, value in (("--steps", args.steps), ("--n", args.n)):
        if value is not None and value < 1:
            raise UserError(f"{flag} must be a positive integer, got {value}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is a file; choose a folder name for --out")
    if not args.overwrite:
        taken = [out / REPORT] if (out / REPORT).exists() else []
        taken += [out / m for m in args.models if any((out / m / f).exists() for f in runfolder.OWNED)]
        if taken:
            raise UserError(f"{taken[0]} already exists; pass --overwrite to replace it or choose another --out")
    return out


def cmd_compare(args) -> int:
    import time

    from latentspace.report import REPORT, run_results, sampling_rate, write_comparison
    from latentspace.runs import load_run

    out = _check_compare(args)
    data = _load_data(args.data, _data_options(args))  # bad --data fails here, before anything is written
    entries = []
    for name in args.models:
        run = out / name
        argv = ["train", name, "--data", str(args.data), "--out", str(run), "--seed", str(args.seed),
                "--no-progress"]
        argv += (["--steps", str(args.steps)] if args.steps else []) + (["--overwrite"] if args.overwrite else [])
        argv += ["--time", str(args.time)] if args.time else []
        argv += data_argv(args)
        t0 = time.perf_counter()
        cmd_train(build_parser().parse_args(argv))
        seconds = time.perf_counter() - t0
        model, _ = load_run(run)
        results, _ = run_results(run, model, data, n=args.n, seed=args.seed, progress=not args.no_progress)
        rate = (results.get("details") or {}).get("samples_per_s") or sampling_rate(model, seed=args.seed)
        entries.append({"run": run, "model": model, "results": results, "train_seconds": seconds,
                        "samples_per_s": rate})
        print(f"{name}: trained in {seconds:.1f} s, {rate:,.0f} samples/s", file=sys.stderr)
    path = write_comparison(entries, out / REPORT, overwrite=args.overwrite, data=data, seed=args.seed)
    print(f"wrote {path}", file=sys.stderr)
    return 0


# -- argument parsing ---------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="latentspace",
        description="Fit generative models (KDE, GMM, PPCA, GANs, VAEs) to your data, sample, evaluate.",
        epilog="Example: latentspace train gan --data grid25 --out runs/first-gan && "
               "latentspace evaluate runs/first-gan")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    q = sub.add_parser("list", help="list models or datasets")
    q.add_argument("what", nargs="?", choices=["models", "datasets"])
    q.set_defaults(func=cmd_list)

    q = sub.add_parser("train", help="train a model and keep a run folder")
    q.add_argument("model", help="model name (see `latentspace list models`)")
    q.add_argument("--data", help="dataset name or a path to a folder of images or a .npy/.npz file")
    q.add_argument("--data-b", help="domain B of a translation model (cyclegan; --data is domain A), "
                                    "loaded with the same options")
    add_data_options(q)
    q.add_argument("--steps", type=int, help="training steps (default: the model's; on --resume: the run's)")
    q.add_argument("--time", type=_duration, help="training time budget, e.g. 90s, 10m or 1h: training stops "
                                                  "there and schedules follow the time spent (on --resume: the "
                                                  "run's; give more to continue)")
    q.add_argument("--batch-size", type=int, help="batch size (default: the model's; on --resume: the run's)")
    q.add_argument("--seed", type=int, help="seed (default 0; on --resume: the run's)")
    q.add_argument("--out", help="run folder (default runs/MODEL-DATA)")
    q.add_argument("--set", action="append", metavar="KEY=VALUE", help="a model parameter; repeatable")
    g = q.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint, with "
                                                         "the run's own data and settings (give no other option)")
    g.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    q.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    q.add_argument("--log-every", type=int, help="steps between logged losses (default 100)")
    q.add_argument("--sample-every", type=int, help="steps between sample pictures (default 0: 10 per run)")
    q.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 1000); a run killed "
                                                        "without warning (SIGKILL) loses the steps since its last")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.add_argument("--tensorboard", action="store_true", help="also log the losses for TensorBoard in "
                                                             "OUT/tensorboard (needs: pip install tensorboard)")
    q.set_defaults(func=cmd_train)

    add_data_command(sub)
    add_complete_command(sub)

    q = sub.add_parser("sample", help="draw samples from a trained model")
    q.add_argument("run", metavar="RUN_OR_MODEL")
    q.add_argument("--n", type=int, default=64)
    q.add_argument("--out", required=True, help="FILE.png (a picture), FILE.npy (the samples), or FILE.wav (a "
                                                "spectrogram run made from sound: FILE-000.wav, ... one per sample)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=cmd_sample)

    q = sub.add_parser("evaluate", help="score a trained model against held-out data")
    q.add_argument("run", metavar="RUN_OR_MODEL")
    q.add_argument("--data", help="dataset (default: the run's)")
    add_data_options(q, of_run=True, classes=False)
    q.add_argument("--n", type=int, help="samples to draw (default 10,000; 2,500 on toy sets, PacGAN's protocol)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--nll-items", type=int,
                   help="held-out items scored for the likelihood (default: up to 10,000 for exact "
                        "likelihoods, 100 for importance-sampled estimates; 0: all)")
    q.add_argument("--features", default="auto", choices=["auto", "classifier", "autoencoder", "standardised"],
                   help="domain features the scores use (auto: a classifier when labels exist, an "
                        "autoencoder otherwise, coordinates for points); trained once and cached")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.add_argument("--out", help="metrics JSON (default RUN/metrics.json)")
    q.set_defaults(func=cmd_evaluate)

    q = sub.add_parser("report", help="write a self-contained HTML report of a run")
    q.add_argument("run", metavar="RUN")
    q.add_argument("--out", help="HTML file (default RUN/report.html)")
    q.add_argument("--n", type=int, help="samples to evaluate (default as for evaluate); RUN/metrics.json is "
                                         "reused when it was made with the same --n and --seed")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--overwrite", action="store_true", help="replace an existing report")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.set_defaults(func=cmd_report)

    q = sub.add_parser("plot", help="draw a latent picture: reconstructions, manifold, latents, interpolation, "
                                    "traversal")
    q.add_argument("run", metavar="RUN_OR_MODEL")
    q.add_argument("--kind", required=True,
                   help="reconstructions (held-out items and decode(encode(x))), manifold (the decoder over a "
                        "2-D latent plane), latents (latent means projected to 2-D, coloured by class), "
                        "interpolation (between the encodings of two items) or traversal (one latent "
                        "dimension at a time, the most active first)")
    q.add_argument("--out", required=True, help="FILE.png (or .pdf, .svg)")
    q.add_argument("--method", default="auto",
                   help="latents: pca, tsne or umap (needs umap-learn); auto: the codes when 2-D, else pca")
    q.add_argument("--n", type=int, help="items (reconstructions, default 16; 500 points), codes per side "
                                         "(manifold, 15), items at most (latents, 2000), pairs "
                                         "(interpolation, 3) or dimensions (traversal, 8)")
    q.add_argument("--seed", type=int, default=0, help="picks the held-out items")
    q.add_argument("--label", metavar="CLASS",
                   help="conditional models (cvae, cgan): the class (name, or index) that manifold and traversal "
                        "decode as (default: the first class) and that interpolation walks within; "
                        "reconstructions and latents use each item's own label")
    q.add_argument("--data", help="dataset (default: the run's)")
    add_data_options(q, of_run=True, classes=False)
    q.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    q.set_defaults(func=cmd_plot)

    q = sub.add_parser("compare", help="train several models on one dataset and compare them in one HTML page")
    q.add_argument("models", nargs="+", metavar="MODEL", help="model names (see `latentspace list models`)")
    q.add_argument("--data", required=True, help="dataset name or a path to a folder of images or a .npy/.npz file")
    add_data_options(q)
    q.add_argument("--steps", type=int, help="training steps of each neural model (default: the model's); "
                                             "classical models are fitted in one go")
    q.add_argument("--time", type=_duration, help="training time budget of each neural model, e.g. 5m")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--n", type=int, help="samples to evaluate per model (default as for evaluate)")
    q.add_argument("--out", required=True, help="folder: DIR/MODEL/ run folders and DIR/report.html")
    q.add_argument("--overwrite", action="store_true", help="replace earlier runs and report in --out")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.set_defaults(func=cmd_compare)
    for name, q in sub.choices.items():
        if name != "list":
            q.add_argument("--threads", type=int, help="CPU threads to compute with (default: the cores available "
                                                       "to this process; see docs: several runs at once)")
    return p


#: units of --time
DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(seconds: float) -> str:
    """A duration as the user would write it: ``90 s``, ``10 min``, ``1.5 h``."""
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _duration(text: str) -> float:
    """``90s``, ``10m``, ``1.5h`` or plain seconds, as seconds."""
    t = text.strip().lower()
    unit = DURATION_UNITS.get(t[-1:], None)
    try:
        value = float(t[:-1] if unit else t) * (unit or 1.0)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive duration like 90s, 10m or 1h, got {text!r}")
    return value


#: exit code of a run stopped by Ctrl-C (SIGINT); SIGTERM gives 143 (128 + the signal's number)
EXIT_INTERRUPTED = 130


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from latentspace.errors import TrainingDiverged, UserError

    try:
        if "threads" in vars(args):
            from latentspace.threads import set_threads

            set_threads(args.threads)
        return args.func(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except TrainingDiverged as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(f"stopped: {e or 'interrupted'}", file=sys.stderr)
        return _interrupt_code(e)
    except RuntimeError as e:
        distributed = sys.modules.get("latentspace.train.distributed")  # loaded if training ran
        if distributed is None or not isinstance(e, distributed.DistributedFailure):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1


def _interrupt_code(error: KeyboardInterrupt) -> int:
    """130 for Ctrl-C; the signal's own code (143 for SIGTERM) when training says which signal stopped it."""
    engine = sys.modules.get("latentspace.train.engine")  # loaded if training ran
    if engine is not None and isinstance(error, engine.TrainingInterrupted):
        return error.exit_code
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
