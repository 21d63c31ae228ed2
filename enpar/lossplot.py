"""Loss curves (the paper's Figure 6) as a PNG from a pre-training log, drawn with Pillow only.

matplotlib is not installed and plotly's PNG export needs kaleido, so this draws a small grid of line
charts directly: one panel per objective, the raw per-step loss in a light tone and a moving average on top.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from enpar.schema import DataError, parse_json_lines

PANEL_W, PANEL_H = 420, 260
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 58, 16, 30, 40
COLORS = {"mep": (31, 119, 180), "met": (214, 39, 40), "pp": (44, 160, 44), "acd": (148, 103, 189)}
NAMES = {
    "mep": "MEP (masked entity prediction)",
    "met": "MET (masked entity typing)",
    "pp": "PP (permutation prediction)",
    "acd": "ACD (adversarial context discrimination)",
    "loss": "weighted sum",
}


def read_log(path: str | Path) -> list[dict]:
    """The rows of a log.jsonl; DataError naming the file and line of a row that is not a JSON object."""
    rows = []
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, row in parse_json_lines(fh, path):
            if not isinstance(row, dict):
                raise DataError("expected a JSON object", path=path, line=lineno)
            rows.append(row)
    return rows


def moving_average(values: Sequence[float], window: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    ticks, v = [], start
    while v <= hi + 1e-12:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}"


def plot_losses(
    log_path: str | Path, png_path: str | Path, *, title: str = "ENPAR pre-training losses"
) -> Path:
    """One panel per objective found in the log (`losses` dict per row), x = optimizer step."""
    from PIL import Image, ImageDraw, ImageFont

    rows = read_log(log_path)
    tasks = [t for t in ("mep", "met", "pp", "acd") if any(t in r.get("losses", {}) for r in rows)]
    if not tasks:
        tasks = ["loss"]
    cols = 2 if len(tasks) > 1 else 1
    nrows = math.ceil(len(tasks) / cols)
    width, height = cols * PANEL_W, nrows * PANEL_H + 34
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=12)
        big = ImageFont.load_default(size=15)
    except TypeError:  # Pillow < 10.1: a fixed-size bitmap font
        font = big = ImageFont.load_default()
    draw.text((10, 8), title, fill="black", font=big)
    for k, task in enumerate(tasks):
        ox, oy = (k % cols) * PANEL_W, 34 + (k // cols) * PANEL_H
        pts = [
            (r["step"], r["losses"][task] if task != "loss" else r["loss"])
            for r in rows
            if (task == "loss" or task in r.get("losses", {})) and r.get("step") is not None
        ]
        pts = [(x, y) for x, y in pts if y is not None and math.isfinite(y)]
        x0, y0 = ox + MARGIN_L, oy + MARGIN_T
        x1, y1 = ox + PANEL_W - MARGIN_R, oy + PANEL_H - MARGIN_B
        draw.text((x0, oy + 8), NAMES.get(task, task), fill="black", font=font)
        draw.rectangle([x0, y0, x1, y1], outline=(120, 120, 120))
        if not pts:
            draw.text((x0 + 10, y0 + 10), "no data", fill="gray", font=font)
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        xlo, xhi = min(xs), max(xs)
        ylo, yhi = min(ys), max(ys)
        if xhi == xlo:
            xhi = xlo + 1
        if yhi - ylo < 1e-9:
            ylo, yhi = ylo - 0.5, yhi + 0.5
        pad = 0.05 * (yhi - ylo)
        ylo, yhi = max(0.0, ylo - pad) if ylo >= 0 else ylo - pad, yhi + pad

        def sx(x: float, xlo: float = xlo, xhi: float = xhi, x0: int = x0, x1: int = x1) -> float:
            return x0 + (x - xlo) / (xhi - xlo) * (x1 - x0)

        def sy(y: float, ylo: float = ylo, yhi: float = yhi, y0: int = y0, y1: int = y1) -> float:
            return y1 - (y - ylo) / (yhi - ylo) * (y1 - y0)

        for t in _ticks(ylo, yhi):
            yy = sy(t)
            draw.line([x0, yy, x1, yy], fill=(235, 235, 235))
            draw.text((ox + 4, yy - 7), _fmt(t), fill="black", font=font)
        for t in _ticks(xlo, xhi):
            xx = sx(t)
            draw.line([xx, y1, xx, y1 + 4], fill="black")
            draw.text((xx - 10, y1 + 6), _fmt(t), fill="black", font=font)
        draw.text((x1 - 30, y1 + 22), "step", fill="black", font=font)
        color = COLORS.get(task, (0, 0, 0))
        light = tuple(int(c + (255 - c) * 0.65) for c in color)
        smooth = moving_average(ys, max(1, len(ys) // 20))
        if len(pts) > 1:
            draw.line([(sx(x), sy(y)) for x, y in pts], fill=light, width=1)
            draw.line([(sx(x), sy(y)) for x, y in zip(xs, smooth, strict=True)], fill=color, width=2)
        else:
            draw.ellipse([sx(xs[0]) - 3, sy(ys[0]) - 3, sx(xs[0]) + 3, sy(ys[0]) + 3], fill=color)
        draw.text((x1 - 150, y0 + 6), f"{ys[0]:.3f} -> {smooth[-1]:.3f}", fill=color, font=font)
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    img.save(png_path)
    return png_path
