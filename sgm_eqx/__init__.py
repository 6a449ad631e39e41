"""sgm_eqx: learn which symmetries a dataset has, and how much of each.

An Equinox implementation of the Symmetry-aware Generative Model (SGM) and its
companion systems. Subpackages:

- [`sgm_eqx.groups`][]: group actions as pytrees (`Affine2D`, `HSVColor`, `Product`, ...);
- [`sgm_eqx.image`][]: scipy-exact B-spline interpolation, blur, colour spaces;
- [`sgm_eqx.nn`][]: the inference network q_ω(η | x) and the flow p_ψ(η | x̂);
- [`sgm_eqx.losses`][]: pure loss functions of Algorithm 1;
- [`sgm_eqx.train`][]: configs, presets, jitted steps and loops, checkpoints;
- [`sgm_eqx.data`][]: procedural dSprites, MNIST protocols, plain arrays;
- [`sgm_eqx.experiments`][]: metrics, figures, the `sgm-eqx` commands;
- [`sgm_eqx.detect`][]: symmetry detection with latent Lie algebras;
- [`sgm_eqx.vae`][]: VAE, AugVAE and InvVAE with importance-weighted bounds (Sec. 4.2).
- [`sgm_eqx.elbo`][]: the joint-ELBO invariant generative model (2022 workshop paper).
"""

import importlib.metadata

from . import (
    data as data,
    detect as detect,
    elbo as elbo,
    experiments as experiments,
    groups as groups,
    image as image,
    losses as losses,
    nn as nn,
    train as train,
    vae as vae,
)
from ._sgm import SGM as SGM, make_sgm as make_sgm

try:
    __version__ = importlib.metadata.version("sgm_eqx")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"
