"""The symmetry report: which transformations a dataset has, and how much of each.

For the held-out images `x` of each group (a class when the data has labels, else the whole
set), the trained SGM gives the prototype `x̂ = T_{f(x)}^{-1}(x)` and samples
`η ~ p_ψ(η | x̂)`. Each sampled element is described in natural units *as it acts on its
prototype* ([`sgm_eqx.groups.AbstractGroupAction.describe`][]: for images the rotation in
degrees about the content's centre, the shift as a fraction of the frame, scale factors;
for colour the hue shift in turns and saturation/value factors). Pooled over the group,
these samples are the model's answer to "how much of each transformation occurs
naturally" for that group. Nothing here reads η directly, so the report does not depend on
how η is parameterised.

Per group and transformation the report gives the median, the 90% interval (the shortest
arc holding 90% of the samples for angles), whether the transformation is *present* (its
interval is wider than [`PRESENCE_THRESHOLDS`][sgm_eqx.experiments.PRESENCE_THRESHOLDS]) and
whether its distribution is *multimodal* (a Gaussian kernel density estimate with Silverman's
bandwidth has two or more modes holding at least 10% of the samples each).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import PRNGKeyArray

from .._sgm import SGM
from ..data import Dataset
from ._batched import infer_all, sample_all

#: Width of the 90% interval above which a transformation counts as present. Factors
#: (`scale`, `aspect`, `saturation`, `value`) are compared on a log scale.
PRESENCE_THRESHOLDS: dict[str, float] = {
    "rotation_deg": 10.0,
    "shift_x": 0.03,
    "shift_y": 0.03,
    "scale": math.log(1.08),
    "aspect": math.log(1.08),
    "hue_turns": 0.03,
    "saturation": math.log(1.08),
    "value": math.log(1.08),
}
_ORDER = {
    t: i
    for i, t in enumerate(
        ("rotation_deg", "shift_x", "shift_y", "scale", "aspect", "hue_turns", "saturation")
    )
}
_ORDER["value"] = len(_ORDER)
#: Transformations measured as multiplicative factors (log scale for widths and modes).
FACTORS = ("scale", "aspect", "saturation", "value")
#: Transformations that are angles, with their period.
PERIODS = {"rotation_deg": 360.0, "hue_turns": 1.0}
#: Natural unit of each transformation, for the tables.
UNITS = {
    "rotation_deg": "degrees",
    "shift_x": "fraction of width",
    "shift_y": "fraction of height",
    "scale": "factor",
    "aspect": "factor (x/y)",
    "hue_turns": "turns",
    "saturation": "factor",
    "value": "factor",
}


@eqx.filter_jit
def _describe_batch(model: SGM, protos, etas):
    def one(proto, eta_row):
        return jax.vmap(lambda e: model.template.with_params(e).describe(proto))(eta_row)

    return jax.vmap(one)(protos, etas)


def _circular_interval(values: np.ndarray, period: float, mass: float = 0.9):
    """Shortest arc holding `mass` of the angles: `(low, high)` with `high - low <= period`."""
    v = np.sort(np.mod(values, period))
    n = len(v)
    k = max(1, math.ceil(mass * n))
    ext = np.concatenate([v, v + period])
    widths = ext[k - 1 : k - 1 + n] - ext[:n]
    i = int(np.argmin(widths))
    low = ext[i]
    low = low - period if low >= period / 2 else low
    return float(low), float(low + widths[i])


def _modes(values: np.ndarray, period: float | None) -> int:
    """Number of clear modes of a Gaussian KDE (Silverman's bandwidth).

    Neighbouring density peaks whose valley stays above 60% of the lower peak are merged (a
    ripple, not a mode), and only modes holding at least 10% of the samples are counted.
    """
    v = np.asarray(values, np.float64)
    n = len(v)
    if period is None:
        sd = np.std(v)
        iqr = np.subtract(*np.percentile(v, [75, 25]))
    else:
        w = np.mod(v - np.median(v) + period / 2, period)
        sd = np.std(w)
        iqr = np.subtract(*np.percentile(w, [75, 25]))
    spread = min(sd, iqr / 1.349) if iqr > 0 else sd
    if not spread > 0:
        return 1
    bw = 0.9 * spread * n ** (-0.2)
    if period is None:
        grid = np.linspace(v.min() - 3 * bw, v.max() + 3 * bw, 400)
        dist = grid[:, None] - v[None]
    else:
        grid = np.linspace(0, period, 400, endpoint=False)
        dist = np.mod(grid[:, None] - v[None] + period / 2, period) - period / 2
    dens = np.exp(-0.5 * (dist / bw) ** 2).sum(1)
    wrap = period is not None
    left = np.roll(dens, 1) if wrap else np.concatenate([[-1.0], dens[:-1]])
    right = np.roll(dens, -1) if wrap else np.concatenate([dens[1:], [-1.0]])
    peaks = list(np.where((dens > left) & (dens >= right))[0])

    def valley(i, j):  # lowest density strictly between grid indices i < j (or wrapping)
        idx = (
            np.arange(i, j + 1) if i < j else np.concatenate([np.arange(i, 400), np.arange(j + 1)])
        )
        return dens[idx].min()

    merged = True
    while merged and len(peaks) > 1:
        merged = False
        pairs = list(zip(peaks, peaks[1:] + (peaks[:1] if wrap else []), strict=False))
        for a, b in pairs:
            if valley(a, b) > 0.6 * min(dens[a], dens[b]):
                peaks.remove(a if dens[a] < dens[b] else b)
                merged = True
                break
    if len(peaks) <= 1:
        return 1
    # mass of each mode: the samples nearest to it on the grid's basins (split at valleys)
    owner = np.argmin(
        np.abs(
            (grid[None, :] - grid[np.asarray(peaks)][:, None] + (period or 0) / 2)
            % (period or np.inf)
            - (period or 0) / 2
            if wrap
            else grid[None, :] - grid[np.asarray(peaks)][:, None]
        ),
        axis=0,
    )
    cell = np.clip(np.searchsorted(grid, np.mod(v, period) if wrap else v), 0, 399)
    masses = np.bincount(owner[cell], minlength=len(peaks)) / n
    return int(np.sum(masses >= 0.1))


def summarise_samples(name: str, values: np.ndarray) -> dict:
    """Median, 90% interval, presence and modality of one transformation's samples."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    period = PERIODS.get(name)
    log = name in FACTORS
    w = np.log(np.maximum(v, 1e-12)) if log else v
    if period is not None:
        low, high = _circular_interval(w, period)
        width = high - low
        centre = low + width / 2
    else:
        low, high = (float(q) for q in np.percentile(w, [5, 95]))
        width = high - low
        centre = float(np.median(w))
    back = (lambda t: float(np.exp(t))) if log else float
    return {
        "unit": UNITS.get(name, "parameter"),
        "median": back(centre),
        "interval90": [back(low), back(high)],
        "present": bool(width > PRESENCE_THRESHOLDS.get(name, 0.0)),
        "multimodal": _modes(w, period) >= 2,
    }


def report_samples(
    model: SGM,
    data: Dataset,
    key: PRNGKeyArray,
    *,
    split: str = "test",
    n_examples: int = 200,
    n_samples: int = 50,
) -> dict[str, dict[str, np.ndarray]]:
    """The described samples behind [`sgm_eqx.experiments.symmetry_report`][].

    **Returns:** `{group: {transformation: values}}`, each `values` of shape
    `(n_images * n_samples,)`.
    """
    if n_examples < 1 or n_samples < 2:
        raise ValueError(
            f"`symmetry_report(n_examples=..., n_samples=...)`: expected >= 1 and >= 2; got "
            f"{n_examples} and {n_samples}."
        )
    subset = data.subset(split)
    if len(subset) == 0:
        subset = data
    labels = None if subset.labels is None else np.asarray(subset.labels)
    groups = (
        {"all": np.arange(len(subset))}
        if labels is None
        else {f"class {int(c)}": np.where(labels == c)[0] for c in np.unique(labels)}
    )
    out = {}
    for i, (name, idx) in enumerate(groups.items()):
        images = jnp.asarray(subset.images)[idx[:n_examples]]
        _, protos = infer_all(model, images)
        etas = sample_all(model, protos, jr.fold_in(key, i), n_samples)
        described = _describe_batch(model, jnp.asarray(protos), jnp.asarray(etas))
        order = sorted(described, key=lambda t: (_ORDER.get(t, len(_ORDER)), t))
        out[name] = {t: np.asarray(described[t], np.float64).ravel() for t in order}
    return out


def symmetry_report(
    model: SGM,
    data: Dataset,
    key: PRNGKeyArray,
    *,
    split: str = "test",
    n_examples: int = 200,
    n_samples: int = 50,
    samples: dict[str, dict[str, np.ndarray]] | None = None,
) -> dict:
    """Which transformations each group of `data` has, and how much of each.

    **Arguments:**

    - `model`: a trained [`sgm_eqx.SGM`][] (both stages).
    - `data`: a [`sgm_eqx.data.Dataset`][]; groups are its labels, or the whole set.
    - `key`: PRNG key for the samples of `p_ψ(η | x̂)`.
    - `split`: which split's images to use (`"train"`, `"val"`, `"test"`; the whole data
      when that split is empty).
    - `n_examples`: images per group (the first ones of the split).
    - `n_samples`: samples of `p_ψ(η | x̂)` per image.
    - `samples`: precomputed [`sgm_eqx.experiments.report_samples`][] (then the arguments
      above are not used).

    **Returns:** `{"split": split, "groups": {name: {"n": int, "transformations":
    {t: summary}}}}`, each summary from [`sgm_eqx.experiments.summarise_samples`][].
    """
    if samples is None:
        samples = report_samples(
            model, data, key, split=split, n_examples=n_examples, n_samples=n_samples
        )
    groups = {}
    for name, by_t in samples.items():
        n = len(next(iter(by_t.values()))) if by_t else 0
        groups[name] = {
            "n_samples": n,
            "transformations": {t: summarise_samples(t, v) for t, v in by_t.items()},
        }
    return {"split": split, "groups": groups}


def plot_report(samples: dict[str, dict[str, np.ndarray]], report: dict):
    """A grid of histograms (groups x transformations) of the described samples.

    Present transformations are drawn in colour, absent ones in grey, with the 90% interval
    shaded. Returns a `matplotlib.figure.Figure` (no global backend state is touched).
    """
    from matplotlib.figure import Figure

    groups = list(samples)
    names = list(next(iter(samples.values())))
    fig = Figure(figsize=(2.2 * len(names), 1.6 * len(groups) + 0.4), layout="constrained")
    axes = fig.subplots(len(groups), len(names), squeeze=False)
    for r, g in enumerate(groups):
        for c, t in enumerate(names):
            ax = axes[r, c]
            s = report["groups"][g]["transformations"][t]
            colour = "tab:blue" if s["present"] else "0.6"
            ax.hist(samples[g][t], bins=40, color=colour, density=True)
            ax.axvspan(*s["interval90"], color=colour, alpha=0.15)
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            if r == 0:
                ax.set_title(f"{t}\n({UNITS.get(t, 'parameter')})", fontsize=7)
            if c == 0:
                ax.set_ylabel(g, fontsize=7)
    return fig


def report_markdown(report: dict) -> str:
    """The report as a Markdown table: one row per group and transformation."""
    lines = [
        "| group | transformation | present | median | 90% interval | multimodal |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for group, g in report["groups"].items():
        for t, s in g["transformations"].items():
            lo, hi = s["interval90"]
            lines.append(
                f"| {group} | {t} ({s['unit']}) | {'yes' if s['present'] else 'no'} | "
                f"{s['median']:.3g} | [{lo:.3g}, {hi:.3g}] | "
                f"{'yes' if s['multimodal'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"
