"""The ELBO of eq. 17 (single-sample estimate) and the schedules of the workshop appendix."""

import einops
import jax.numpy as jnp
import jax.random as jr
import optax
from jax.scipy import stats as jstats
from jaxtyping import Array, Float, PRNGKeyArray

from ._config import ELBOConfig
from ._model import LIVAE


def elbo(
    model: LIVAE,
    x: Float[Array, "H W C"],
    key: PRNGKeyArray,
    *,
    beta: float | Float[Array, ""] = 1.0,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    r"""Single-sample estimate of the (β-weighted) ELBO of eq. 17 for ONE image.

    With $z \sim q_\phi(z \mid x)$ (the invariant encoder, its transformations drawn from
    `key`), $\hat x \sim p_\theta(\hat x \mid z)$ and $\eta \sim q_\nu(\eta \mid x)$, all
    reparameterised:

    $$\log \mathcal{N}(x; T_\eta(\hat x), \sigma^2 I) + \log p_\psi(\eta \mid z)
    - \log q_\nu(\eta \mid x) + \beta\,[\log p(z) - \log q_\phi(z \mid x)].$$

    With `beta = 1` its expectation over `key` is the ELBO (a lower bound of log p(x),
    averaged over the encoder's random transformations, each of which gives a valid q).
    β multiplies the VAE KL term only, as in the paper.

    **Arguments:**

    - `model`: a [`sgm_eqx.elbo.LIVAE`][].
    - `x`: one image of shape `model.image_shape`.
    - `key`: PRNG key (split four ways: encoder transformations, z, x̂, η).
    - `beta`: weight of the VAE KL term.

    **Returns:** `(value, aux)`: the β-weighted estimate, and `aux` with `"elbo"` (the same
    sample with β = 1), `"loglik"`, `"kl_z"` (log q(z|x) - log p(z)) and `"kl_eta"`
    (log q(η|x) - log p(η|z)), each a one-sample estimate, in nats.
    """
    if x.shape != model.image_shape:
        raise ValueError(
            f"`elbo(x=...)`: expected one image of shape {model.image_shape}; got {x.shape}. "
            "(Batch with `jax.vmap`.)"
        )
    k_enc, k_z, k_xhat, k_eta = jr.split(key, 4)
    loc, scale = model.encode(x, key=k_enc)
    z = loc + scale * jr.normal(k_z, loc.shape)
    prior_loc, prior_scale = model.prior()
    kl_z = (jstats.norm.logpdf(z, loc, scale) - jstats.norm.logpdf(z, prior_loc, prior_scale)).sum()
    x_hat = model.decoder(z) + model.decoder.scale() * jr.normal(k_xhat, x.shape)
    flat = einops.rearrange(x, "h w c -> (h w c)")
    eta, log_q_eta = model.eta_posterior.sample_and_log_prob(k_eta, condition=flat)
    log_p_eta = model.eta_prior.log_prob(eta, condition=z)
    kl_eta = log_q_eta - log_p_eta
    loglik = jstats.norm.logpdf(x, model.transform(x_hat, eta), model.obs_scale()).sum()
    value = loglik - kl_eta - beta * kl_z
    aux = {"elbo": loglik - kl_eta - kl_z, "loglik": loglik, "kl_z": kl_z, "kl_eta": kl_eta}
    return value, aux


def _float_steps(schedule: optax.Schedule) -> optax.Schedule:
    """`schedule` evaluated at the step count cast to float32.

    Integer counts (optax's own `int32` counter) then work under strict dtype promotion.
    """
    return lambda step: schedule(jnp.asarray(step, jnp.float32))


def beta_schedule(config: ELBOConfig) -> optax.Schedule:
    """β on the VAE KL: `beta_start` decayed to `beta_end` on a cosine over `config.steps`.

    `β(t) = end + (start - end) (1 + cos(π t / steps)) / 2` for `t <= steps` and `end`
    afterwards (`optax.cosine_decay_schedule`; paper: 10 -> 1).
    """
    schedule = optax.cosine_decay_schedule(
        init_value=config.beta_start,
        decay_steps=config.steps,
        alpha=config.beta_end / config.beta_start,
    )
    return _float_steps(schedule)


def lr_schedule(config: ELBOConfig) -> optax.Schedule:
    """The appendix's learning rate: warm-up, then a cosine decay.

    Linear from `lr_init` to `lr_peak` over `warmup_steps`, then a cosine decay to `lr_end`
    at `steps` (`optax.warmup_cosine_decay_schedule`).
    """
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=config.lr_init,
        peak_value=config.lr_peak,
        warmup_steps=config.warmup_steps,
        decay_steps=config.steps,
        end_value=config.lr_end,
    )
    return _float_steps(schedule)


def make_elbo_optimizer(config: ELBOConfig) -> optax.GradientTransformation:
    """AdamW (`weight_decay`) on [`sgm_eqx.elbo.lr_schedule`][] (paper: 1e-4 -> 1e-3 -> 1e-4)."""
    return optax.adamw(lr_schedule(config), weight_decay=config.weight_decay)
