"""The joint-ELBO invariant generative model of the 2022 workshop paper (eqs. 9-12, 19)."""

import math

import einops
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from flowjax.distributions import Transformed
from jaxtyping import Array, Float, PRNGKeyArray

from ..groups import AbstractGroupAction
from ._nets import ConditionalDiagNormal, ConvDecoder, GaussianConvEncoder


class LIVAE(eqx.Module):
    r"""The learnt-invariance VAE: a generative model with a transformation-invariant latent.

    **Generative model** (workshop paper eqs. 9-12):

    - $z \sim \mathcal{N}(\mu_z, \mathrm{diag}\,\sigma_z^2)$, learnt `prior_loc` and scale;
    - $\hat x \sim p_\theta(\hat x \mid z) = \mathcal{N}(\mu_\theta(z), \mathrm{diag}\,s^2)$,
      the prototype ([`sgm_eqx.elbo.ConvDecoder`][]);
    - $\eta \sim p_\psi(\eta \mid z)$, a spline flow whose base Normal is predicted from z
      (`eta_prior`, from [`sgm_eqx.elbo.make_spline_flow`][]);
    - $x \sim \mathcal{N}(T_\eta(\hat x), \sigma^2 I)$ with a learnt scalar σ (`obs_scale`).

    **Inference model:**

    - $q_\nu(\eta \mid x)$: a spline flow whose base Normal is predicted from the flattened
      image (`eta_posterior`, condition `(H * W * C,)`, row-major `h w c`);
    - $q_\phi(z \mid x) = \mathbb{E}_\eta[\hat q_\phi(z \mid T_\eta(x))]$ (eq. 19), with
      $\hat q_\phi$ a [`sgm_eqx.elbo.GaussianConvEncoder`][] and the expectation over η
      uniform on `[-invariance_range, invariance_range]` estimated with `n_transforms`
      transformations. As in the authors' code, the expectation is taken of the Normal's
      parameters (mean and scale are averaged), so q_φ(z | x) is again a diagonal Normal.

    **Transformations.** η has `len(eta_index)` entries; it sets the entries `eta_index` of
    the `template` action's parameters, the others stay 0. For MNIST rotation the template is
    [`sgm_eqx.groups.Affine2D`][] and `eta_index = (2,)`: η is the counter-clockwise angle in
    radians, and `invariance_range = (π,)` averages over the whole rotation group, which makes
    q_φ(z | x) invariant to every rotation (Conjecture 2 of the paper: "fully" invariant).

    **Averaging rule (`encode`).** The `n_transforms` values of each η entry are *systematic*
    samples: one uniform offset `u` per entry and the values
    `-r + 2r (k + u) / K`, `k = 0..K-1` (independently permuted across entries when η has
    several). Each value is marginally uniform, so the average is an unbiased Monte-Carlo
    estimate of eq. 19 like the paper's i.i.d. samples, with lower variance; on the full
    circle the set of angles is a randomly rotated regular K-gon, so the estimate is exactly
    invariant (up to interpolation) to rotations by multiples of 360°/K and its distribution
    over `u` is invariant to every rotation.

    Every method acts on ONE example; batch with `jax.vmap` / `eqx.filter_vmap`.
    Build with [`sgm_eqx.elbo.make_livae`][].
    """

    prior_loc: Float[Array, " latent"]
    prior_raw_scale: Float[Array, " latent"]
    encoder: GaussianConvEncoder
    decoder: ConvDecoder
    eta_prior: Transformed
    eta_posterior: Transformed
    raw_obs_scale: Float[Array, ""]
    template: AbstractGroupAction
    eta_index: tuple[int, ...] = eqx.field(static=True)
    invariance_range: tuple[float, ...] = eqx.field(static=True)
    n_transforms: int = eqx.field(static=True)

    def __check_init__(self):
        n_eta, latent = len(self.eta_index), self.prior_loc.shape[0]
        image_shape = self.decoder.image_shape
        if (
            not self.eta_index
            or any(not 0 <= i < self.template.n_params for i in self.eta_index)
            or len(set(self.eta_index)) != n_eta
        ):
            raise ValueError(
                f"`LIVAE(eta_index=...)`: expected distinct indices in 0..."
                f"{self.template.n_params - 1} (the template's parameters); got {self.eta_index}."
            )
        if len(self.invariance_range) != n_eta or not all(
            math.isfinite(r) and r >= 0 for r in self.invariance_range
        ):
            raise ValueError(
                f"`LIVAE(invariance_range=...)`: expected {n_eta} finite non-negative "
                f"half-widths (one per η entry); got {self.invariance_range}."
            )
        if self.n_transforms < 1:
            raise ValueError(f"`LIVAE(n_transforms=...)`: expected >= 1; got {self.n_transforms}.")
        if self.encoder.image_shape != image_shape or self.encoder.latent_dim != latent:
            raise ValueError(
                f"`LIVAE(encoder=...)`: expected image_shape {image_shape} and latent_dim "
                f"{latent} (the decoder's and prior's); got {self.encoder.image_shape} and "
                f"{self.encoder.latent_dim}."
            )
        checks = (
            ("eta_prior", self.eta_prior, (latent,)),
            ("eta_posterior", self.eta_posterior, (math.prod(image_shape),)),
        )
        for name, dist, cond in checks:
            if tuple(dist.shape) != (n_eta,) or dist.cond_shape != cond:
                raise ValueError(
                    f"`LIVAE({name}=...)`: expected shape ({n_eta},) and cond_shape {cond}; "
                    f"got {dist.shape} and {dist.cond_shape}."
                )
            if not isinstance(dist.base_dist, ConditionalDiagNormal):
                raise TypeError(
                    f"`LIVAE({name}=...)`: expected a flow on a ConditionalDiagNormal base "
                    f"(see `make_spline_flow`); got base {type(dist.base_dist).__name__}."
                )

    # ----------------------------------------------------------------------- sizes
    @property
    def image_shape(self) -> tuple[int, int, int]:
        """`(H, W, C)` of the images."""
        return self.decoder.image_shape

    @property
    def latent_dim(self) -> int:
        """Dimension of z."""
        return self.prior_loc.shape[0]

    @property
    def n_eta(self) -> int:
        """Dimension of η."""
        return len(self.eta_index)

    def _check_image(self, method: str, x: Array) -> None:
        if x.shape != self.image_shape:
            raise ValueError(
                f"`LIVAE.{method}(x=...)`: expected one image of shape {self.image_shape}; "
                f"got {x.shape}."
            )

    # ----------------------------------------------------------------------- pieces
    def prior(self) -> tuple[Float[Array, " latent"], Float[Array, " latent"]]:
        """`(μ_z, σ_z)` of p(z)."""
        return self.prior_loc, jax.nn.softplus(self.prior_raw_scale)

    def obs_scale(self) -> Float[Array, ""]:
        """σ of p(x | x̂, η) = N(T_η(x̂), σ² I)."""
        return jax.nn.softplus(self.raw_obs_scale)

    def element(self, eta: Float[Array, " n_eta"]) -> AbstractGroupAction:
        """The group element T_η: `template.with_params` with η in the `eta_index` entries."""
        if eta.shape != (self.n_eta,):
            raise ValueError(
                f"`LIVAE.element(eta=...)`: expected shape ({self.n_eta},); got {eta.shape}."
            )
        full = jnp.zeros(self.template.n_params, eta.dtype).at[jnp.asarray(self.eta_index)]
        return self.template.with_params(full.set(eta))

    def transform(
        self, x: Float[Array, "H W C"], eta: Float[Array, " n_eta"]
    ) -> Float[Array, "H W C"]:
        """T_η(x): the template's action with parameters η (one resampling)."""
        return self.element(eta).apply(x)

    def invariance_samples(self, key: PRNGKeyArray) -> Float[Array, "n_transforms n_eta"]:
        """The `n_transforms` η values that `encode` averages over (systematic samples).

        See the class docstring: per η entry, one offset `u ~ U(0, 1)` and the values
        `-r + 2r (k + u) / K`; entries after the first are randomly permuted.
        """
        k_off, k_perm = jr.split(key)
        n, d = self.n_transforms, self.n_eta
        grid = (jnp.arange(n, dtype=jnp.float32)[:, None] + jr.uniform(k_off, (1, d))) / n
        perms = jax.vmap(lambda k: jr.permutation(k, n))(jr.split(k_perm, d))
        perms = perms.at[0].set(jnp.arange(n))  # the first entry keeps the K-gon order
        grid = jnp.take_along_axis(grid, perms.T, axis=0)
        r = jnp.asarray(self.invariance_range, jnp.float32)[None, :]
        return -r + 2.0 * r * grid

    def encode(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray
    ) -> tuple[Float[Array, " latent"], Float[Array, " latent"]]:
        """`(μ, σ)` of the invariant q_φ(z | x) (eq. 19), averaged over `n_transforms` T_η(x).

        **Arguments:**

        - `x`: one image `(H, W, C)`.
        - `key`: draws the transformations (see `invariance_samples`).

        **Returns:** `encode_at(x, invariance_samples(key))`.
        """
        return self.encode_at(x, self.invariance_samples(key))

    def encode_at(
        self, x: Float[Array, "H W C"], etas: Float[Array, "K n_eta"]
    ) -> tuple[Float[Array, " latent"], Float[Array, " latent"]]:
        """`(μ, σ)` of q_φ(z | x) averaged over the given transformations.

        **Arguments:**

        - `x`: one image `(H, W, C)`.
        - `etas`: `K` transformation parameters; the encoder sees `T_η(x)` for each.

        **Returns:** the mean over the `K` copies of the encoder's μ and of its σ.
        """
        self._check_image("encode", x)
        if etas.ndim != 2 or etas.shape[1] != self.n_eta:
            raise ValueError(
                f"`LIVAE.encode_at(etas=...)`: expected shape (K, {self.n_eta}); got {etas.shape}."
            )
        copies = jax.vmap(lambda e: self.transform(x, e))(etas)
        locs, scales = jax.vmap(self.encoder)(copies)
        return locs.mean(axis=0), scales.mean(axis=0)

    def eta_point(self, x: Float[Array, "H W C"]) -> Float[Array, " n_eta"]:
        """A point estimate of η ~ q_ν(η | x): the flow's image of its base mean.

        For one-dimensional η the flow is monotone increasing, so this is the median of
        q_ν(η | x) (e.g. the predicted rotation angle, radians).
        """
        self._check_image("eta_point", x)
        c = einops.rearrange(x, "h w c -> (h w c)")
        base = self.eta_posterior.base_dist
        assert isinstance(base, ConditionalDiagNormal)  # checked in __check_init__
        loc, _ = base.loc_and_scale(c)
        return self.eta_posterior.bijection.transform(loc, c)

    def sample_eta_posterior(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray, n: int
    ) -> Float[Array, "n n_eta"]:
        """`n` samples of q_ν(η | x)."""
        self._check_image("sample_eta_posterior", x)
        c = einops.rearrange(x, "h w c -> (h w c)")
        return self.eta_posterior.sample(key, (n,), condition=c)

    def prototype(self, x: Float[Array, "H W C"], *, key: PRNGKeyArray) -> Float[Array, "H W C"]:
        """The prototype of x: the decoder's mean at the mean of q_φ(z | x)."""
        loc, _ = self.encode(x, key=key)
        return self.decoder(loc)

    def reconstruct(self, x: Float[Array, "H W C"], *, key: PRNGKeyArray) -> Float[Array, "H W C"]:
        """`T_η(x̂)` with x̂ = `prototype(x)` and η = `eta_point(x)` (no sampling noise)."""
        return self.transform(self.prototype(x, key=key), self.eta_point(x))

    def sample(self, key: PRNGKeyArray) -> Float[Array, "H W C"]:
        """One generated image `T_η(μ_θ(z))`, z ~ p(z), η ~ p_ψ(η | z) (mean prototype)."""
        k_z, k_eta = jr.split(key)
        loc, scale = self.prior()
        z = loc + scale * jr.normal(k_z, loc.shape)
        eta = self.eta_prior.sample(k_eta, condition=z)
        return self.transform(self.decoder(z), eta)
