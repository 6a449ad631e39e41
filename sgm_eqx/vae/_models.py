r"""VAE, AugVAE and InvVAE (paper Sec. 4.2, App. C.4) as Equinox Modules.

Every model implements [`sgm_eqx.vae.AbstractVAE`][]: one importance log-weight of
log p(x) (`log_weight`), the training loss (`training_loss`), reconstructions and samples.
The bounds ([`sgm_eqx.vae.iwlb`][], [`sgm_eqx.vae.elbo`][]) are written once against that
interface. Methods act on ONE image `Float[Array, "H W C"]`; batch with `jax.vmap`.
"""

import abc
import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.scipy import stats as jstats
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from .._sgm import SGM
from ._networks import ConvVAEDecoder, ConvVAEEncoder

#: Default floor of every learned scale (the authors' `σ_min`).
DEFAULT_MIN_SCALE = 1e-2


def _inv_softplus(y: float) -> float:
    return math.log(math.expm1(y))


def _check_image(name: str, x: Array, image_shape: tuple[int, int, int]) -> None:
    if tuple(x.shape) != tuple(image_shape):
        raise ValueError(
            f"`{name}(x=...)`: expected ONE image of shape {tuple(image_shape)} (H, W, C); got "
            f"shape {tuple(x.shape)}. Batch with jax.vmap."
        )


def _normal_log_prob(x: Array, loc: Array, scale: Array) -> Float[Array, ""]:
    return jnp.sum(jstats.norm.logpdf(x, loc, scale))


def _only(model: eqx.Module, where: Callable, part: PyTree) -> PyTree[bool]:
    """Filter spec: True on the inexact arrays of `where(model)` only."""
    spec = jax.tree_util.tree_map(lambda _: False, model)
    return eqx.tree_at(where, spec, replace=jax.tree_util.tree_map(eqx.is_inexact_array, part))


class AbstractVAE(eqx.Module):
    """Interface of the VAE family: what the bounds, training and the CLI use.

    - `log_weight(x, *, key)`: one importance log-weight `log w` with `E[w] = p(x)`,
      so `log mean_k w_k` is a lower bound of log p(x) in expectation (the IWLB);
    - `training_loss(x, *, key, beta)`: the model's training objective for one example
      (a negative β-ELBO per pixel of whatever the model's VAE is trained on);
    - `reconstruct(x)`: the reconstruction of x (means, no sampling);
    - `sample(key)`: one generated image;
    - `trainable()`: an `eqx.partition` filter spec of the parameters training updates
      (the SGM inside AugVAE/InvVAE stays frozen).
    """

    image_shape: eqx.AbstractVar[tuple[int, int, int]]

    @abc.abstractmethod
    def log_weight(self, x: Float[Array, "H W C"], *, key: PRNGKeyArray) -> Float[Array, ""]:
        """One importance log-weight of log p(x) (nats)."""

    @abc.abstractmethod
    def training_loss(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray, beta: Float[Array, ""] | float
    ) -> Float[Array, ""]:
        """The per-example training loss (minimised)."""

    @abc.abstractmethod
    def reconstruct(self, x: Float[Array, "H W C"]) -> Float[Array, "H W C"]:
        """Reconstruction of x."""

    @abc.abstractmethod
    def sample(self, *, key: PRNGKeyArray) -> Float[Array, "H W C"]:
        """One generated image."""

    @abc.abstractmethod
    def trainable(self) -> PyTree[bool]:
        """Filter spec of the trained parameters (for `eqx.partition`)."""


class VAE(AbstractVAE):
    r"""A VAE with a learnable normal prior and a homoscedastic Gaussian likelihood (App. C.4).

    - prior $p(z) = \mathcal{N}(m, \mathrm{diag}\,s^2)$, m and s learned (init 0 and 1);
    - encoder $q(z \mid x) = \mathcal{N}(\mu(x), \mathrm{diag}\,\sigma(x)^2)$: any callable
      `x -> (loc, scale)` (default [`sgm_eqx.vae.ConvVAEEncoder`][]);
    - likelihood $p(x \mid z) = \prod_{\text{pixels}} \mathcal{N}(x_i; \mu_i(z), \tau_i^2)$
      with the mean from any callable `z -> image` (default
      [`sgm_eqx.vae.ConvVAEDecoder`][]) and one learned scale τ_i per pixel and channel,
      the same for every z (homoscedastic; init 1).

    The prior scale and τ are `min_scale + softplus(raw)` (the authors' `σ_min = 0.01`
    floor, written without clipping so gradients never vanish). Densities are over pixel
    values as given (the library's images are in [0, 1]; the authors' code uses [-1, 1],
    which shifts every log-density by `-H·W·C·log 2` nats, -543.4 on MNIST).
    """

    encoder: Callable[..., tuple[Float[Array, " latent"], Float[Array, " latent"]]]
    decoder: Callable[..., Float[Array, "H W C"]]
    prior_loc: Float[Array, " latent"]
    prior_raw_scale: Float[Array, " latent"]
    raw_pixel_scale: Float[Array, "H W C"]
    min_scale: float
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    latent_size: int = eqx.field(static=True)

    def __init__(
        self,
        encoder: Callable[..., tuple[Float[Array, " latent"], Float[Array, " latent"]]],
        decoder: Callable[..., Float[Array, "H W C"]],
        *,
        image_shape: tuple[int, int, int],
        latent_size: int,
        min_scale: float = DEFAULT_MIN_SCALE,
    ):
        """Assemble a VAE from an encoder and a decoder (see [`sgm_eqx.vae.make_vae`][]).

        **Arguments:**

        - `encoder`: `x (H, W, C) -> (loc, scale)`, each `(latent_size,)`.
        - `decoder`: `z (latent_size,) -> mean image (H, W, C)`.
        - `image_shape`: `(H, W, C)`.
        - `latent_size`: dimension of z.
        - `min_scale`: floor of the prior scale and of the pixel scales, in `[0, 1)`.
        """
        shape = tuple(int(s) for s in image_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"`VAE(image_shape=...)`: expected (H, W, C); got {image_shape}.")
        if int(latent_size) < 1:
            raise ValueError(f"`VAE(latent_size=...)`: expected >= 1; got {latent_size}.")
        if not 0.0 <= float(min_scale) < 1.0:
            raise ValueError(f"`VAE(min_scale=...)`: expected a value in [0, 1); got {min_scale}.")
        self.encoder = encoder
        self.decoder = decoder
        self.image_shape = (shape[0], shape[1], shape[2])
        self.latent_size = int(latent_size)
        self.min_scale = float(min_scale)
        raw_one = _inv_softplus(1.0 - self.min_scale)
        self.prior_loc = jnp.zeros((self.latent_size,))
        self.prior_raw_scale = jnp.full((self.latent_size,), raw_one)
        self.raw_pixel_scale = jnp.full(self.image_shape, raw_one)

    def __check_init__(self):
        z = jax.ShapeDtypeStruct((self.latent_size,), jnp.float32)
        x = jax.ShapeDtypeStruct(self.image_shape, jnp.float32)
        try:
            enc = eqx.filter_eval_shape(self.encoder, x)
            dec = eqx.filter_eval_shape(self.decoder, z)
        except Exception as e:
            raise ValueError(
                f"`VAE(encoder=..., decoder=...)`: calling them on an image {self.image_shape} / "
                f"a latent ({self.latent_size},) failed: {e}"
            ) from e
        enc_shapes = tuple(tuple(o.shape) for o in enc)
        if enc_shapes != ((self.latent_size,),) * 2 or tuple(dec.shape) != self.image_shape:
            raise ValueError(
                f"`VAE(encoder=..., decoder=...)`: expected the encoder to return (loc, scale) of "
                f"shape ({self.latent_size},) and the decoder an image {self.image_shape}; got "
                f"{enc_shapes} and {tuple(dec.shape)}."
            )

    # -- the model's distributions ---------------------------------------------------------

    def prior_scale(self) -> Float[Array, " latent"]:
        """The prior's scale s."""
        return self.min_scale + jax.nn.softplus(self.prior_raw_scale)

    def pixel_scale(self) -> Float[Array, "H W C"]:
        """The homoscedastic per-pixel scale τ of p(x | z)."""
        return self.min_scale + jax.nn.softplus(self.raw_pixel_scale)

    def encode(
        self, x: Float[Array, "H W C"]
    ) -> tuple[Float[Array, " latent"], Float[Array, " latent"]]:
        """`(loc, scale)` of q(z | x)."""
        _check_image("VAE.encode", x, self.image_shape)
        return self.encoder(x)

    def log_likelihood(
        self, x: Float[Array, "H W C"], z: Float[Array, " latent"]
    ) -> Float[Array, ""]:
        """The log-likelihood log p(x | z), summed over pixels."""
        return _normal_log_prob(x, self.decoder(z), self.pixel_scale())

    def log_prior(self, z: Float[Array, " latent"]) -> Float[Array, ""]:
        """The log-prior log p(z)."""
        return _normal_log_prob(z, self.prior_loc, self.prior_scale())

    def kl(self, x: Float[Array, "H W C"]) -> Float[Array, ""]:
        """KL(q(z | x) || p(z)) in closed form (diagonal normals)."""
        loc, scale = self.encode(x)
        s = self.prior_scale()
        ratio = scale / s
        return 0.5 * jnp.sum(
            ratio**2 + ((loc - self.prior_loc) / s) ** 2 - 1.0 - 2.0 * jnp.log(ratio)
        )

    # -- AbstractVAE -----------------------------------------------------------------------

    def log_weight(self, x: Float[Array, "H W C"], *, key: PRNGKeyArray) -> Float[Array, ""]:
        """The log-weight log p(x | z) + log p(z) - log q(z | x) at one z ~ q(z | x)."""
        loc, scale = self.encode(x)
        z = loc + scale * jr.normal(key, loc.shape, loc.dtype)
        return self.log_likelihood(x, z) + self.log_prior(z) - _normal_log_prob(z, loc, scale)

    def elbo_terms(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray
    ) -> tuple[Float[Array, ""], Float[Array, ""]]:
        """`(log p(x | z), KL)` with one reparameterised z ~ q(z | x) and the KL in closed form."""
        loc, scale = self.encode(x)
        z = loc + scale * jr.normal(key, loc.shape, loc.dtype)
        return self.log_likelihood(x, z), self.kl(x)

    def training_loss(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray, beta: Float[Array, ""] | float
    ) -> Float[Array, ""]:
        """`-(log p(x | z) - β KL) / (H W C)`: the β-ELBO per pixel, negated.

        Dividing by the number of pixel values keeps learning rates comparable across
        image sizes (as the authors' code); β follows a schedule in
        [`sgm_eqx.vae.fit_vae`][].
        """
        ll, kl = self.elbo_terms(x, key=key)
        return -(ll - beta * kl) / math.prod(self.image_shape)

    def reconstruct(self, x: Float[Array, "H W C"]) -> Float[Array, "H W C"]:
        """The decoder mean at the encoder mean: μ(loc(x))."""
        return self.decoder(self.encode(x)[0])

    def sample(self, *, key: PRNGKeyArray) -> Float[Array, "H W C"]:
        """The decoder mean μ(z) at z ~ p(z) (no pixel noise)."""
        z = self.prior_loc + self.prior_scale() * jr.normal(key, self.prior_loc.shape)
        return self.decoder(z)

    def trainable(self) -> PyTree[bool]:
        """Every inexact array (encoder, decoder, prior, pixel scales)."""
        return jax.tree_util.tree_map(eqx.is_inexact_array, self)


def make_vae(
    key: PRNGKeyArray,
    *,
    image_shape: tuple[int, int, int],
    latent_size: int = 20,
    channels: tuple[int, ...] = (64, 128),
    hidden: tuple[int, ...] = (256,),
    min_scale: float = DEFAULT_MIN_SCALE,
) -> VAE:
    """The paper's convolutional VAE (App. C.4).

    **Arguments:**

    - `key`: PRNG key.
    - `image_shape`: `(H, W, C)`.
    - `latent_size`: dimension of z (paper: 20).
    - `channels`: conv filters of the encoder (the decoder mirrors them); the paper sweeps
      `(64, 128)` and `(64, 128, 256)`.
    - `hidden`: MLP widths (paper: `(256,)`).
    - `min_scale`: floor of the learned scales.

    **Returns:** a [`sgm_eqx.vae.VAE`][] with q(z | x) = N(0, I) and p(z) = N(0, I) at init.
    """
    k_enc, k_dec = jr.split(key)
    kwargs = dict(channels=tuple(channels), hidden=tuple(hidden))
    encoder = ConvVAEEncoder(image_shape, latent_size, key=k_enc, **kwargs)
    decoder = ConvVAEDecoder(image_shape, latent_size, key=k_dec, **kwargs)
    return VAE(
        encoder,
        decoder,
        image_shape=encoder.image_shape,
        latent_size=latent_size,
        min_scale=min_scale,
    )


def _check_same_shape(name: str, vae: VAE, sgm: SGM) -> None:
    if tuple(sgm.image_shape) != tuple(vae.image_shape):
        raise ValueError(
            f"`{name}(vae=..., sgm=...)`: the SGM acts on images of shape "
            f"{tuple(sgm.image_shape)}, the VAE models {tuple(vae.image_shape)}; they must agree."
        )


class AugVAE(AbstractVAE):
    r"""A VAE trained on data resampled by a trained SGM (Sec. 4.2): learned augmentation.

    Each training example x is replaced by $x' = \mathcal{T}_{\eta}(\hat{x})$ with
    $\hat{x} = \mathcal{T}^{-1}_{f_\omega(x)}(x)$ and $\eta \sim p_\psi(\eta \mid \hat{x})$
    ([`sgm_eqx.SGM.resample`][], one composed resampling of x), a fresh draw at every step.
    The model of x is the VAE itself: bounds, reconstructions and samples are the VAE's,
    evaluated on un-resampled x (as in the authors' code). Only the VAE is trained.
    """

    vae: VAE
    sgm: SGM

    # Written out although it is the dataclass one: a type checker counts the base's
    # `image_shape` AbstractVar (a property here) as a constructor argument (equinox#1123).
    def __init__(self, vae: VAE, sgm: SGM):
        """Pair a VAE with a trained SGM on images of the same shape."""
        self.vae = vae
        self.sgm = sgm

    def __check_init__(self):
        _check_same_shape("AugVAE", self.vae, self.sgm)

    @property
    def image_shape(self) -> tuple[int, int, int]:  # pyright: ignore[reportIncompatibleVariableOverride]
        """`(H, W, C)`."""
        return self.vae.image_shape

    def training_input(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray
    ) -> Float[Array, "H W C"]:
        """The example the VAE is trained on: one SGM resampling of x (no gradient to the SGM)."""
        _check_image("AugVAE.training_input", x, self.image_shape)
        return jax.lax.stop_gradient(self.sgm.resample(x, key, 1)[0])

    def training_loss(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray, beta: Float[Array, ""] | float
    ) -> Float[Array, ""]:
        """The VAE's loss on `training_input(x, key=k1)`, with `k1, k2 = jr.split(key)`."""
        k_aug, k_vae = jr.split(key)
        return self.vae.training_loss(self.training_input(x, key=k_aug), key=k_vae, beta=beta)

    def log_weight(self, x: Float[Array, "H W C"], *, key: PRNGKeyArray) -> Float[Array, ""]:
        """The VAE's log-weight of x."""
        return self.vae.log_weight(x, key=key)

    def reconstruct(self, x: Float[Array, "H W C"]) -> Float[Array, "H W C"]:
        """The VAE's reconstruction of x."""
        return self.vae.reconstruct(x)

    def sample(self, *, key: PRNGKeyArray) -> Float[Array, "H W C"]:
        """A VAE sample."""
        return self.vae.sample(key=key)

    def trainable(self) -> PyTree[bool]:
        """The VAE's arrays only."""
        return _only(self, lambda m: m.vae, self.vae)


class InvVAE(AbstractVAE):
    r"""A VAE over prototypes, with the SGM's p_ψ(η | x̂) completing the model of x.

    Generative model: $z \sim p(z)$, $\hat{x} \sim p_\theta(\hat{x} \mid z)$,
    $\eta \sim p_\psi(\eta \mid \hat{x})$, $x = \mathcal{T}_\eta(\hat{x})$. Treating
    $\mathcal{T}_\eta$ as a volume-preserving bijection of pixel space,
    $p(x) = \int p_\theta(\hat{x}_\eta)\, p_\psi(\eta \mid \hat{x}_\eta)\, d\eta$ with
    $\hat{x}_\eta = \mathcal{T}_\eta^{-1} x$
    (see the docs' derivation), estimated by importance sampling with the proposal
    $\eta \sim r(\eta \mid x) = \mathcal{N}(f_\omega(x), \mathrm{diag}\,\epsilon^2)$ around
    the inference net's point estimate and $z \sim q(z \mid \hat{x})$:

    $\log w = \log p_\theta(\hat{x} \mid z) + \log p(z) - \log q(z \mid \hat{x})
    + \log p_\psi(\eta \mid \hat{x}) - \log r(\eta \mid x)$, $\hat{x} = \mathcal{T}_\eta^{-1}(x)$.

    Training: the VAE's β-ELBO on prototypes $\hat{x} = \mathcal{T}^{-1}_\eta(x)$ with η
    drawn from the same proposal (so the VAE sees the prototypes the bound evaluates). The
    SGM and `eta_scale` are frozen.

    **Fields:** `vae` (a [`sgm_eqx.vae.VAE`][] of prototypes), `sgm` (a trained
    [`sgm_eqx.SGM`][]), `eta_scale` (ε, shape `(n_params,)`, positive; see
    [`sgm_eqx.vae.make_inv_vae`][] for the default).
    """

    vae: VAE
    sgm: SGM
    eta_scale: Float[Array, " n_params"]

    # Written out although it is the dataclass one (see `AugVAE.__init__`).
    def __init__(self, vae: VAE, sgm: SGM, eta_scale: Float[Array, " n_params"]):
        """Pair a VAE of prototypes with a trained SGM and the proposal scale ε."""
        self.vae = vae
        self.sgm = sgm
        self.eta_scale = eta_scale

    def __check_init__(self):
        _check_same_shape("InvVAE", self.vae, self.sgm)
        if tuple(self.eta_scale.shape) != (self.sgm.n_params,):
            raise ValueError(
                f"`InvVAE(eta_scale=...)`: expected shape ({self.sgm.n_params},) (one scale per "
                f"transformation parameter); got {tuple(self.eta_scale.shape)}."
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:  # pyright: ignore[reportIncompatibleVariableOverride]
        """`(H, W, C)`."""
        return self.vae.image_shape

    def prototype_at(
        self, x: Float[Array, "H W C"], eta: Float[Array, " n_params"]
    ) -> Float[Array, "H W C"]:
        """The prototype x̂ = T_η^{-1}(x) (one resampling of x)."""
        return self.sgm.template.with_params(eta).inverse().apply(x)

    def propose_eta(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray
    ) -> tuple[Float[Array, " n_params"], Float[Array, ""]]:
        """`(η, log r(η | x))` with η ~ N(f_ω(x), diag ε²)."""
        _check_image("InvVAE", x, self.image_shape)
        loc = jax.lax.stop_gradient(self.sgm.inference_net(x))
        scale = jax.lax.stop_gradient(self.eta_scale)
        eta = loc + scale * jr.normal(key, loc.shape, loc.dtype)
        return eta, _normal_log_prob(eta, loc, scale)

    def training_input(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray
    ) -> Float[Array, "H W C"]:
        """The prototype the VAE is trained on: T_η^{-1}(x) with η from the proposal."""
        eta, _ = self.propose_eta(x, key=key)
        return jax.lax.stop_gradient(self.prototype_at(x, eta))

    def training_loss(
        self, x: Float[Array, "H W C"], *, key: PRNGKeyArray, beta: Float[Array, ""] | float
    ) -> Float[Array, ""]:
        """The VAE's loss on `training_input(x, key=k1)`, with `k1, k2 = jr.split(key)`."""
        k_eta, k_vae = jr.split(key)
        return self.vae.training_loss(self.training_input(x, key=k_eta), key=k_vae, beta=beta)

    def log_weight(self, x: Float[Array, "H W C"], *, key: PRNGKeyArray) -> Float[Array, ""]:
        """One log-weight of log p(x): a draw of η from the proposal, then of z."""
        k_eta, k_z = jr.split(key)
        eta, log_r = self.propose_eta(x, key=k_eta)
        x_hat = self.prototype_at(x, eta)
        return self.vae.log_weight(x_hat, key=k_z) + self.sgm.log_prob(eta, x_hat) - log_r

    def reconstruct(self, x: Float[Array, "H W C"]) -> Float[Array, "H W C"]:
        """T_{f(x)}(VAE reconstruction of the prototype T_{f(x)}^{-1}(x))."""
        _check_image("InvVAE.reconstruct", x, self.image_shape)
        g = self.sgm.template.with_params(self.sgm.inference_net(x))
        return g.apply(self.vae.reconstruct(g.inverse().apply(x)))

    def sample(self, *, key: PRNGKeyArray) -> Float[Array, "H W C"]:
        """A generated image x = T_η(x̂): x̂ a VAE sample (decoder mean), η ~ p_ψ(η | x̂)."""
        k_vae, k_eta = jr.split(key)
        x_hat = self.vae.sample(key=k_vae)
        eta = self.sgm.flow.sample(k_eta, condition=x_hat)
        return self.sgm.template.with_params(eta).apply(x_hat)

    def sample_prototype(self, *, key: PRNGKeyArray) -> Float[Array, "H W C"]:
        """A VAE sample x̂ (a generated prototype)."""
        return self.vae.sample(key=key)

    def trainable(self) -> PyTree[bool]:
        """The VAE's arrays only."""
        return _only(self, lambda m: m.vae, self.vae)


def make_inv_vae(
    vae: VAE, sgm: SGM, *, eta_scale: float | tuple[float, ...] | None = None
) -> InvVAE:
    """An [`sgm_eqx.vae.InvVAE`][] with a validated proposal scale ε.

    **Arguments:**

    - `vae`: the VAE of prototypes.
    - `sgm`: a trained SGM on images of the same shape.
    - `eta_scale`: ε of the proposal N(f_ω(x), diag ε²): a positive scalar or one per
      parameter. `None` uses the learned homoscedastic scale of q_ω (`sgm.infer(x)[1]`, in
      the unbounded coordinates, which are η itself for unbounded nets) floored at 1e-3;
      an inference net without a scale (a point estimate) then needs `eta_scale`.

    Any positive ε gives a valid bound; ε close to the width of the integrand over η gives
    a tight one.
    """
    n = sgm.n_params
    if eta_scale is None:
        scale = np.asarray(sgm.infer(jnp.zeros(sgm.image_shape))[1], dtype=np.float64)
        if not np.all(scale > 0):
            raise ValueError(
                "`make_inv_vae(eta_scale=None)`: the SGM's inference net has no learned scale "
                "(a point estimate); pass eta_scale, e.g. 0.01."
            )
        scale = np.maximum(scale, 1e-3)
    else:
        scale = (
            np.broadcast_to(np.asarray(eta_scale, dtype=np.float64), (n,))
            if np.ndim(eta_scale) == 0
            else np.asarray(eta_scale, dtype=np.float64)
        )
        if scale.shape != (n,) or not np.all(np.isfinite(scale) & (scale > 0)):
            raise ValueError(
                f"`make_inv_vae(eta_scale=...)`: expected a positive scalar or {n} positive "
                f"values; got {eta_scale!r}."
            )
    return InvVAE(vae, sgm, jnp.asarray(scale, dtype=jnp.float32))
