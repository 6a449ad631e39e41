"""What the commands share: a trained SGM's metrics, samples and figures on a dataset.

Everything here takes a trained [`sgm_eqx.SGM`][] and a [`sgm_eqx.data.Dataset`][]; the
model runs over the data through the batched helpers of `_batched.py`, and is loaded by
`_io.py`.
"""

import os
import pathlib

import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Float, PRNGKeyArray

from .._sgm import SGM
from ..data import SHAPES, Dataset, render_dsprites, sample_dsprites_latents
from ..groups import Affine2D
from ..train import TrainConfig
from ._batched import chains_all, infer_all, log_prob_all, matrices, resample_all, sample_all
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

    out["mean_log_prob_inferred"] = float(np.mean(log_prob_all(model, eta, protos)))
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
