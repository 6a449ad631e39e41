"""Losses of latent symmetry detection (eq. 4-6 and 12), pure functions of the model."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..image import gaussian_blur
from ._basis import apply_generator
from ._model import LatentSymmetryModel


class LossWeights(eqx.Module):
    """Weights of eq. 6: `L = L_X + λ_Z L_Z + λ_R (L_R(x0) + L_R(x_t)) + λ_α L_α + λ_L ||α||_1`.

    Every term is a mean squared error (mean over pixels or latent entries), so the weights are
    comparable across image and latent sizes.
    """

    latent: float = 1.0
    recon: float = 1.0
    alpha: float = 1.0
    l1: float = 1e-3

    def __check_init__(self):
        for name in ("latent", "recon", "alpha", "l1"):
            if not getattr(self, name) >= 0.0:
                value = getattr(self, name)
                raise ValueError(f"`LossWeights({name}=...)`: expected >= 0; got {value}")


def taylor_transform(
    alpha: Float[Array, " k"], x: Float[Array, "H W C"], t: Float[Array, ""], *, order: int = 2
) -> Float[Array, "H W C"]:
    """`[I + t G_α + (t G_α)²/2! + ... + (t G_α)^order/order!] x` in pixel space, per channel.

    `G_α` is the pixel-space generator with the same coefficients as the latent one, applied
    separably ([`apply_generator`][sgm_eqx.detect.apply_generator]).
    """
    if order < 1:
        raise ValueError(f"`taylor_transform(order=...)`: expected >= 1; got {order}")

    def one_channel(xc: Float[Array, "H W"]) -> Float[Array, "H W"]:
        term, total = xc, xc
        for k in range(1, order + 1):
            term = (t / k) * apply_generator(alpha, term)
            total = total + term
        return total

    return jax.vmap(one_channel, in_axes=-1, out_axes=-1)(x)


def symmetry_loss(
    model: LatentSymmetryModel,
    x0: Float[Array, "H W C"],
    xt: Float[Array, "H W C"],
    *,
    weights: LossWeights | None = None,
    taylor_order: int = 2,
    blur_sigma: float = 0.0,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """The total loss of eq. 6 for one pair, and its terms.

    **Arguments:**

    - `model`: the [`LatentSymmetryModel`][sgm_eqx.detect.LatentSymmetryModel].
    - `x0`, `xt`: the original image and its transformed version, "H W C".
    - `weights`: the [`LossWeights`][sgm_eqx.detect.LossWeights] (default `LossWeights()`).
    - `taylor_order`: number of Taylor terms in the α-matching loss (eq. 12).
    - `blur_sigma`: Gaussian blur (pixels) applied to both images inside the α-matching loss
      only. Shannon–Whittaker derivatives of sharp images (MNIST strokes) are large, so the
      truncated Taylor series diverges for moderate `t`; blurring commutes exactly with rotation
      and translation and approximately with the other flows and keeps the series useful.

    **Returns:** `(loss, aux)` with `aux` holding `pixel` (eq. 4), `latent` (eq. 5), `recon`,
    `alpha_match` (eq. 12), `l1` and the predicted `t`.
    """
    weights = LossWeights() if weights is None else weights
    t = model.magnitude(x0, xt)
    z0, zt = model.encode(x0), model.encode(xt)
    z0_t = model.transform_latent(z0, t)
    pixel = jnp.mean((model.decode(z0_t) - xt) ** 2)
    latent = jnp.mean((z0_t - zt) ** 2)
    recon = jnp.mean((model.decode(z0) - x0) ** 2) + jnp.mean((model.decode(zt) - xt) ** 2)
    alpha = model.alpha()
    b0, bt = gaussian_blur(x0, blur_sigma), gaussian_blur(xt, blur_sigma)
    alpha_match = jnp.mean((taylor_transform(alpha, b0, t, order=taylor_order) - bt) ** 2)
    l1 = jnp.sum(jnp.abs(alpha))
    loss = (
        pixel
        + weights.latent * latent
        + weights.recon * recon
        + weights.alpha * alpha_match
        + weights.l1 * l1
    )
    aux = dict(pixel=pixel, latent=latent, recon=recon, alpha_match=alpha_match, l1=l1, t=t)
    return loss, aux


def batch_symmetry_loss(
    model: LatentSymmetryModel,
    x0: Float[Array, "B H W C"],
    xt: Float[Array, "B H W C"],
    *,
    weights: LossWeights | None = None,
    taylor_order: int = 2,
    blur_sigma: float = 0.0,
) -> tuple[Float[Array, ""], dict[str, Float[Array, " B"]]]:
    """[`symmetry_loss`][sgm_eqx.detect.symmetry_loss] averaged over a batch (vmapped).

    `aux` keeps the per-example values `(B,)` of every term.
    """
    losses, aux = jax.vmap(
        lambda a, b: symmetry_loss(
            model, a, b, weights=weights, taylor_order=taylor_order, blur_sigma=blur_sigma
        )
    )(x0, xt)
    return jnp.mean(losses), aux
