"""What both report pages share: formatting of numbers, embedded pictures, samples, and the
Jinja2 templates (``templates/``) the pages are rendered with.

Every picture is a :class:`Picture`: a PNG held as a base64 ``data:`` URI, so that a page needs
no other file. Sections are :class:`Section` objects that the page templates draw; their text
is plain text, escaped by the templates (autoescape), never HTML put together by hand.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import io
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from latentspace.metrics.display import SCORE_INFO, format_seconds

#: the Jinja2 templates of the pages
TEMPLATES = Path(__file__).with_name("templates")

#: how each ``better`` direction of SCORE_INFO is shown
ARROWS = {"lower": "↓ lower", "higher": "↑ higher", "0.5": "→ 0.5"}


# -- the pieces of a page --------------------------------------------------------------------------
@dataclass
class Picture:
    """An embedded PNG: ``uri`` is its ``data:`` URI; shown ``width`` CSS pixels wide."""

    uri: str
    alt: str
    width: int
    height: int
    pixels: bool = False    # drawn pixel for pixel (no smoothing when enlarged)
    caption: str = ""
    audio: list = field(default_factory=list)   # data: URIs of WAV files played under the picture


@dataclass
class Section:
    """One ``<section>`` of a page: ``intro`` is plain text; ``kind`` and ``data`` name what the
    page template draws above the ``figures`` (a scores table, configuration tables, ...)."""

    ident: str
    title: str
    intro: str = ""
    figures: list[Picture] = field(default_factory=list)
    row: bool = False       # figures side by side
    kind: str = "figures"
    data: object = None


# -- formatting ----------------------------------------------------------------------------------------
def fmt(value) -> str:
    """A score or setting for a table: 4 significant digits for floats, '—' for missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3e}"
        return f"{v:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value) if len(value) <= 8 else f"[{len(value)} values]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt(v)}" for k, v in value.items()) or "—"
    return str(value)


def seconds(s) -> str:
    """A duration: "4.2 s", "95 s", "12.5 min", "3.1 h"; "—" when unknown."""
    return format_seconds(s)


def rate(x) -> str:
    """Items per second, to the unit: "12,345"; "—" when unknown."""
    return "—" if x is None else f"{float(x):,.0f}"


def arrow(better) -> str:
    """Which way a score is better, as shown in the tables."""
    return ARROWS.get(better, better or "—")


def score_info() -> dict:
    """``SCORE_INFO`` of the evaluation: score key -> (label, better)."""
    return dict(SCORE_INFO)


def score_keys(*score_dicts, info=None) -> list[str]:
    """Keys present in any of ``score_dicts``: known scores in SCORE_INFO's order, then the rest."""
    info = score_info() if info is None else info
    present = []
    for d in score_dicts:
        for k in (d or {}):
            if k not in present:
                present.append(k)
    return [k for k in info if k in present] + [k for k in present if k not in info]


def now() -> str:
    return _dt.datetime.now().strftime("%Y-%m-%d %H:%M")


def when(path: Path) -> str | None:
    """When ``path`` was last written, to the minute; None when it cannot be read."""
    try:
        return _dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    except OSError:
        return None


# -- rendering ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def environment():
    """The Jinja2 environment of the templates: autoescaped, with the formatting filters."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(fmt=fmt, seconds=seconds, rate=rate, arrow=arrow)
    return env


def render(template: str, *, title: str, facts: list[tuple[str, str | None]], sections: list[Section],
           nav: list[tuple[str, str]], foot: str) -> str:
    """A whole page: ``facts`` without a value are left out of the header."""
    facts = [(k, v) for k, v in facts if v not in (None, "", "—")]
    return environment().get_template(template).render(title=title, facts=facts, sections=sections, nav=nav,
                                                        foot=foot)


# -- pictures ---------------------------------------------------------------------------------------
def _uri(png: bytes):
    from markupsafe import Markup

    # ours: base64 text, nothing to escape
    return Markup("data:image/png;base64," + base64.b64encode(png).decode("ascii"))


def _wav_uri(wav: bytes):
    from markupsafe import Markup

    return Markup("data:audio/wav;base64," + base64.b64encode(wav).decode("ascii"))


def figure_picture(fig, alt: str, dpi: int = 144, caption: str = "") -> Picture:
    """A matplotlib figure as a picture (drawn at ``dpi``, shown at 96 dpi for sharp screens);
    the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    w, h = fig.get_size_inches()
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # figures made through pyplot are kept by it until closed
        pyplot.close(fig)
    return Picture(_uri(buf.getvalue()), alt, round(w * 96), round(h * 96), caption=caption)


def pixels_picture(grid: np.ndarray, alt: str, target: int = 400, caption: str = "") -> Picture:
    """A uint8 image grid as a picture, enlarged by whole pixels to about ``target`` px wide."""
    from PIL import Image

    img = Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid)
    scale = max(1, target // max(img.size))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return Picture(_uri(buf.getvalue()), alt, img.width, img.height, pixels=True, caption=caption)


def new_figure(figsize: tuple[float, float]):
    """A matplotlib figure and its axes, made without pyplot (nothing to close, no backend to pick)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


# -- samples -----------------------------------------------------------------------------------------
def draw(model, n: int, seed: int, data=None) -> torch.Tensor:
    """``n`` samples; conditional models are asked for the classes in turn (as the evaluation does)."""
    if model.conditional and data is not None and data.num_classes:
        labels = torch.arange(n) % data.num_classes
        return torch.as_tensor(model.sample(n, seed=seed, labels=labels)).detach().float().cpu()
    return torch.as_tensor(model.sample(n, seed=seed)).detach().float().cpu()


def reference(data, n: int, seed: int):
    """Up to ``n`` training items in data space (a seeded subset), or None without data."""
    if data is None:
        return None
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)[:n]
    return data.to_data(data.x[idx])


def samples_picture(model, data, seed: int, alt: str, target: int = 400, caption: str = "") -> Picture:
    """Samples as the modality draws a set of items: a scatter over training items, or a grid."""
    return samples_pictures(model, data, seed, alt, target, caption, views=False)[0]


def samples_pictures(model, data, seed: int, alt: str, target: int = 400, caption: str = "",
                     views: bool = True) -> list[Picture]:
    """Samples as the modality draws a set of items (a scatter over training items, or a grid), and
    with ``views`` the modality's other views of the same samples (``spec.extra_views``), captioned."""
    from latentspace.plots import samples_figure

    info = model.info_
    spec = info.spec
    if spec.scatter:
        x = draw(model, spec.scatter_items, seed, data)
        fig = samples_figure(x, info, reference=reference(data, spec.scatter_items, seed))
        pictures = [figure_picture(fig, alt, caption=caption)]
    else:
        x = draw(model, spec.grid_items, seed, data)
        pictures = [pixels_picture(spec.grid(x, info, ncols=8), alt, target=target, caption=caption)]
        pictures[0].audio = [_wav_uri(w) for w in (spec.sounds(x, info) if views else [])]
    if views:
        pictures += [pixels_picture(pic, f"{alt}: {title}", target=target, caption=title)
                     for title, pic in spec.extra_views(x, info).items()]
    return pictures
