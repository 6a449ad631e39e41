"""What the commands share: load a trained SGM, run it over a dataset, metrics and figures.

Everything here takes a trained [`sgm_eqx.SGM`][] and a [`sgm_eqx.data.Dataset`][]; the model
runs in fixed-size jitted batches (the last batch is padded), so a dataset of any size
compiles each function once.
"""

import json
import math
import os
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Float, PRNGKeyArray

from .._sgm import SGM
from ..data import SHAPES, Dataset, render_dsprites, sample_dsprites_latents
from ..groups import Affine2D
from ..train import TrainConfig, has_checkpoint, load_checkpoint
from ._figures import (
    plot_marginals,
    plot_position_distributions,
    plot_prototype_chains,
    plot_prototypes,
)
from ._metrics import (
    chain_ratio,
    dsprites_recovery,
    moment_latents,
    orbit_variance_ratio,
    resampling_fidelity,
)


def load_trained(
    checkpoint: str | os.PathLike, *, which: str = "latest"
) -> tuple[SGM, TrainConfig, str]:
    """Load the model of a `sgm-eqx train` output directory.

    Uses the newest stage-2 checkpoint (`flow.eqx`) when present, else stage 1
    (`inference.eqx`); `which="best"` takes the best-by-validation state of that stage
    instead. A checkpoint whose digest does not match is an error naming the file (no
    silent fallback to an older one).

    **Returns:** `(model, config, stage)`.
    """
    directory = pathlib.Path(checkpoint)
    for stage in ("flow", "inference"):
        if has_checkpoint(directory, stage):
            state, config = load_checkpoint(
                directory,
                stage,
                which=which,
                fallback=False,
            )
            return state.model, config, stage
    raise FileNotFoundError(
        f"`--checkpoint {checkpoint}`: no `flow.eqx` or `inference.eqx` found there; run "
        "`sgm-eqx train --out DIR` first."
    )


def _batched(fn, arrays: tuple, batch_size: int):
    """Apply a jitted per-batch `fn` to leading-axis chunks of equal size (last one padded)."""
    n = arrays[0].shape[0]
    outs = []
    for start in range(0, n, batch_size):
        chunk = [a[start : start + batch_size] for a in arrays]
        m = chunk[0].shape[0]
        if m < batch_size:
            chunk = [
                jnp.concatenate([c, jnp.repeat(c[-1:], batch_size - m, axis=0)]) for c in chunk
            ]
        out = fn(*chunk)
        outs.append(jax.tree_util.tree_map(lambda o, m=m: np.asarray(o[:m]), out))
    return jax.tree_util.tree_map(lambda *o: np.concatenate(o), *outs)


# Module-level jitted batch functions: `eqx.filter_jit` caches on the function object, so
# defining them once lets every call (evaluate, figures, sample) reuse the compilations.
# Python ints (`n`) are static under `filter_jit`.


@eqx.filter_jit
def _infer_batch(model: SGM, x):
    eta = jax.vmap(model.inference_net)(x)
    protos = jax.vmap(model.prototype)(x)
    return eta, protos


@eqx.filter_jit
def _sample_batch(model: SGM, protos, keys, n: int):
    return jax.vmap(lambda p, k: model.sample_eta(p, k, n))(protos, keys)


@eqx.filter_jit
def _resample_batch(model: SGM, x, keys, n: int):
    return jax.vmap(lambda xi, k: model.resample(xi, k, n))(x, keys)


@eqx.filter_jit
def _chain_batch(model: SGM, x, n: int):
    return jax.vmap(lambda xi: model.iterate_prototypes(xi, n))(x)


@eqx.filter_jit
def _log_prob_batch(model: SGM, eta, protos):
    return jax.vmap(model.log_prob)(eta, protos)


def infer_all(model: SGM, images, *, batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """`η = f_ω(x)` `(N, d)` and prototypes `x̂` `(N, H, W, C)` for every image."""
    images = jnp.asarray(images)
    return _batched(lambda x: _infer_batch(model, x), (images,), batch_size)


def sample_all(
    model: SGM, prototypes, key: PRNGKeyArray, n: int, *, batch_size: int = 32
) -> np.ndarray:
    """`n` samples of `p_ψ(η | x̂)` per prototype: `(N, n, d)`."""
    prototypes = jnp.asarray(prototypes)
    keys = jr.split(key, prototypes.shape[0])
    return _batched(lambda p, k: _sample_batch(model, p, k, int(n)), (prototypes, keys), batch_size)


def resample_all(
    model: SGM, images, key: PRNGKeyArray, n: int, *, batch_size: int = 32
) -> np.ndarray:
    """`n` resampled variants `T_η(x̂)` per image: `(N, n, H, W, C)`."""
    images = jnp.asarray(images)
    keys = jr.split(key, images.shape[0])
    return _batched(lambda x, k: _resample_batch(model, x, k, int(n)), (images, keys), batch_size)


def chains_all(model: SGM, images, n: int, *, batch_size: int = 64):
    """Prototype chains: `(x̂_1..x̂_n)` `(N, n, H, W, C)` and `η_0..η_{n-1}` `(N, n, d)`."""
    images = jnp.asarray(images)
    return _batched(lambda x: _chain_batch(model, x, int(n)), (images,), batch_size)


@jax.jit
def _affine_matrices(etas):
    return jax.vmap(lambda e: Affine2D.from_params(e).matrix)(etas)


def matrices(model: SGM, etas) -> np.ndarray:
    """`Affine2D` matrices `T(η)` for `η` of any leading shape `(..., d)`."""
    if not isinstance(model.template, Affine2D):
        raise TypeError(
            "dSprites ground-truth metrics need an affine model (`--preset` with action "
            f"'affine'); this model's action is {type(model.template).__name__}."
        )
    etas = jnp.asarray(etas, jnp.float32)
    flat = etas.reshape(-1, etas.shape[-1])
    mats = _affine_matrices(flat)
    return np.asarray(mats).reshape(*etas.shape[:-1], 3, 3)


def orbit_coverage(
    eta: Float[np.ndarray, "n d"], bounds, *, edge: float = 0.9
) -> Float[np.ndarray, " d"]:
    """Fraction of inferred `η` beyond `edge` of the augmentation bounds, per parameter.

    Stage 1 only sees transformations inside `p(η_rnd) = U(±bounds)`. When the η it infers
    on the training data pile up near those bounds, the data's orbits are wider than the
    augmentation covers (Sec. 2.1 requires it to cover them): widen `augment_bounds`.
    Parameters with a zero bound are not augmented and report 0.
    """
    e = np.abs(np.asarray(eta, np.float64))
    b = np.asarray(bounds, np.float64)
    if e.ndim != 2 or e.shape[1] != b.shape[0]:
        raise ValueError(
            f"`orbit_coverage(eta=..., bounds=...)`: expected (n, {b.shape[0]}) η; got {e.shape}."
        )
    safe = np.where(b > 0, b, np.inf)
    return np.mean(e > edge * safe, axis=0)


def eta_scale(config: TrainConfig) -> np.ndarray:
    """Per-parameter scale for |η| (η_max if bounded, else the stage-1 augmentation bounds)."""
    bound = config.model.eta_bound or config.inference.augment_bounds
    return np.asarray([b if b > 0 else 1.0 for b in bound], np.float64)


def sample_outputs(
    model: SGM,
    images,
    key: PRNGKeyArray,
    *,
    n_samples: int = 100,
    n_resample_inputs: int = 16,
    n_resampled: int = 8,
) -> dict[str, np.ndarray]:
    """The arrays written by `sgm-eqx sample` (see that command)."""
    k_eta, k_res = jr.split(key)
    eta, protos = infer_all(model, images)
    out = {
        "eta_inferred": eta,
        "prototypes": protos,
        "eta_samples": sample_all(model, protos, k_eta, n_samples),
    }
    n_in = min(n_resample_inputs, len(eta))
    if n_in and n_resampled:
        out["resampled"] = resample_all(model, jnp.asarray(images)[:n_in], k_res, n_resampled)
    return out


def evaluate(
    model: SGM,
    config: TrainConfig,
    data: Dataset,
    key: PRNGKeyArray,
    *,
    split: str = "test",
    limit: int = 600,
    n_samples: int = 50,
    chain_length: int = 6,
    n_orbits: int = 6,
    orbit_size: int = 32,
) -> dict:
    """All metrics of this module that apply to `data` (JSON-ready dict).

    Always: `chain_ratio` (Fig. 11) and the mean test `log p_ψ(f_ω(x) | x̂)`. With dSprites
    latents and an affine model: `recovery` ([`sgm_eqx.experiments.dsprites_recovery`][]
    against the training latents), `resampling_fidelity` (one resampled variant per test sprite) and
    `orbit_variance` (`n_orbits` sprites per shape, each rendered at `orbit_size` poses from
    its shape's latent distribution; prototypes vs the inputs themselves).
    """
    k_samp, k_res, k_orbit = jr.split(key, 3)
    test = data.subset(split)
    if len(test) == 0:
        test = data
    test = test.take(np.arange(min(limit, len(test))))
    x = test.images
    eta, protos = infer_all(model, x)
    out: dict = {"split": split, "n_examples": len(test), "n_samples": n_samples}

    out["mean_log_prob_inferred"] = float(
        np.mean(
            _batched(
                lambda e, p: _log_prob_batch(model, e, p),
                (jnp.asarray(eta), jnp.asarray(protos)),
                128,
            )
        )
    )
    _, chain_etas = chains_all(model, x[: min(len(test), 200)], chain_length)
    out["chain_ratio"] = chain_ratio(chain_etas, eta_scale(config))
    if _has_renderer_latents(data) and isinstance(model.template, Affine2D):
        train = data.subset("train")
        train_lat = np.asarray((train if len(train) else data).latents)
        samples = sample_all(model, protos, k_samp, n_samples)
        rec = dsprites_recovery(
            np.asarray(test.latents), matrices(model, eta), matrices(model, samples), train_lat
        )
        out["recovery"] = rec
        resampled = resample_all(model, x, k_res, 1)[:, 0]
        shapes = np.asarray(test.labels)
        out["resampling_fidelity"] = resampling_fidelity(
            x, shapes, resampled, shapes, data_latents=np.asarray(test.latents)
        )
        out["orbit_variance"] = _orbit_variance(
            model, k_orbit, x.shape[1], n_orbits=n_orbits, orbit_size=orbit_size, data=x
        )
    out["summary"] = summarise(out)
    return out


def _has_renderer_latents(data: Dataset) -> bool:
    """Ground-truth metrics need the latents of the procedural renderer's geometry.

    The original dSprites archive (`dsprites-file(...)`) has latents in its own position and
    size conventions, so its examples get the generic metrics only.
    """
    return data.latents is not None and data.name.startswith("dsprites(")


def _orbit_images(key, size: int, n_orbits: int, orbit_size: int) -> np.ndarray:
    """`(3 n_orbits, orbit_size, size, size, 1)`: each orbit is one shape at random poses."""
    lat = np.asarray(sample_dsprites_latents(key, 3 * n_orbits * orbit_size * 4))
    orbits = []
    for s in range(len(SHAPES)):
        ls = lat[np.round(lat[:, 0]) == s][: n_orbits * orbit_size]
        orbits.append(ls.reshape(n_orbits, orbit_size, 5))
    all_lat = np.concatenate(orbits).reshape(-1, 5)
    imgs = np.asarray(render_dsprites(jnp.asarray(all_lat), size=size))
    return imgs.reshape(3 * n_orbits, orbit_size, size, size, 1)


def _orbit_variance(model, key, size, *, n_orbits, orbit_size, data) -> dict:
    orbit = _orbit_images(key, size, n_orbits, orbit_size)
    _, protos = infer_all(model, orbit.reshape(-1, *orbit.shape[2:]))
    protos = protos.reshape(orbit.shape)
    return {
        "prototypes": orbit_variance_ratio(protos, data),
        "inputs": orbit_variance_ratio(orbit, data),
    }


def summarise(metrics: dict) -> dict:
    """A few headline numbers from an [`sgm_eqx.experiments.evaluate`][] dict."""
    s: dict = {}
    if "chain_ratio" in metrics:
        s["chain_ratio_last"] = metrics["chain_ratio"][-1]
    rec = metrics.get("recovery")
    if rec:
        s["heart_rotation_std_deg"] = rec["heart_rotation_std_deg"]
        s["recovery_w1_mean"] = float(
            np.mean([v for shape in rec["w1"].values() for v in shape.values()])
        )
    fid = metrics.get("resampling_fidelity")
    if fid:
        s["fidelity_w1_mean"] = float(
            np.mean([v for shape in fid["w1"].values() for v in shape.values()])
        )
    if "orbit_variance" in metrics:
        s["orbit_variance_prototypes"] = metrics["orbit_variance"]["prototypes"]
        s["orbit_variance_inputs"] = metrics["orbit_variance"]["inputs"]
    return s


def make_figures(
    model: SGM,
    config: TrainConfig,
    data: Dataset,
    key: PRNGKeyArray,
    out_dir: str | os.PathLike,
    *,
    split: str = "test",
    n_show: int = 10,
    n_resampled: int = 4,
    n_samples: int = 500,
    chain_length: int = 6,
) -> list[pathlib.Path]:
    """Write the Fig. 8, 10, 11 (and for dSprites 17) PNGs into `out_dir`; return the paths."""
    out_dir = pathlib.Path(out_dir)
    k_res, k_samp, k_17 = jr.split(key, 3)
    test = data.subset(split)
    test = test if len(test) else data
    if test.labels is not None and _has_renderer_latents(test):
        # A few of each shape, so every class shows up.
        lab = np.asarray(test.labels)
        per = max(1, n_show // 3)
        idx = np.concatenate([np.nonzero(lab == s)[0][:per] for s in range(3)])
    else:
        idx = np.arange(min(n_show, len(test)))
    x = test.images[idx]
    _eta, protos = infer_all(model, x)
    paths = [
        plot_prototypes(
            x, protos, resample_all(model, x, k_res, n_resampled), out_dir / "fig8_prototypes.png"
        ),
    ]
    samples = sample_all(model, protos, k_samp, n_samples)
    bound = config.model.eta_bound
    # Fig. 10 rows: up to 6 examples (for dSprites every other one, to mix the shapes).
    gt = _has_renderer_latents(test)
    sel = np.arange(0, len(idx), 2)[:6] if gt else np.arange(min(6, len(idx)))
    paths.append(
        plot_marginals(
            x[sel],
            protos[sel],
            samples[sel],
            out_dir / "fig10_marginals.png",
            ranges=None if bound is None else np.asarray(bound),
        )
    )
    chain_protos, _chain_etas = chains_all(model, x[:6], chain_length)
    chain_imgs = np.concatenate([np.asarray(x[:6])[:, None], chain_protos], axis=1)
    _big_protos, big_etas = chains_all(model, test.images[: min(200, len(test))], chain_length)
    paths.append(
        plot_prototype_chains(
            chain_imgs,
            np.asarray(chain_ratio(big_etas, eta_scale(config))),
            out_dir / "fig11_prototype_chains.png",
        )
    )
    if gt:
        m = min(600, len(test))
        xs, shapes = test.images[:m], np.asarray(test.labels)[:m]
        res = resample_all(model, xs, k_17, 1)[:, 0]
        est_res = moment_latents(res, shapes)
        paths.append(
            plot_position_distributions(
                xs,
                np.asarray(test.latents)[:m, 3:5],
                shapes,
                res,
                est_res[:, 3:5],
                shapes,
                out_dir / "fig17_positions.png",
            )
        )
    return paths


def write_json(obj: dict, path: str | os.PathLike) -> pathlib.Path:
    """Write `obj` as indented JSON (NaN written as `null`)."""

    def clean(o):
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [clean(v) for v in o]
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, np.generic):
            return clean(o.item())
        return o

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(obj), indent=2))
    return path
