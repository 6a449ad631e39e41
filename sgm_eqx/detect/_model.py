"""The latent symmetry-detection model: autoencoder, t-network and a learned generator G_α."""

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.scipy.linalg as jsl
from jaxtyping import Array, Float, PRNGKeyArray

from ..nn import ReluMLP
from ._basis import BasisName, basis_matrices, basis_size


class LatentSymmetryModel(eqx.Module):
    """Encoder/decoder MLPs, a t-network and a generator `G_α` acting on latent patches.

    An image `x` ("H W C") is encoded to `channels` latent patches of `d x d`
    (`z: "channels d²"`). A pair `(x0, x_t)` gets a magnitude `t = T(x0, x_t)` from the
    t-network, the latent patches are transformed by `exp(t G_α)` with
    `G_α = Σ_i α_i D_i` in the `d x d` latent basis (same matrix for every channel), and decoded.
    `α` is normalised to unit norm (`alpha()`), which removes the scale ambiguity
    `tG = (st)(G/s)`.

    Build it with [`make_symmetry_model`][sgm_eqx.detect.make_symmetry_model]. All methods act
    on one example.

    **Fields:** `encoder`, `decoder`, `t_net` ([`ReluMLP`][sgm_eqx.nn.ReluMLP]),
    `alpha_raw` (unnormalised coefficients, `(k,)`), `latent_basis` (`(k, d², d²)`, not
    trained: gradients are stopped), and static `image_shape`, `latent_size`, `channels`, `basis`.
    """

    encoder: ReluMLP
    decoder: ReluMLP
    t_net: ReluMLP
    alpha_raw: Float[Array, " k"]
    latent_basis: Float[Array, "k d2 d2"]
    image_shape: tuple[int, int, int] = eqx.field(static=True)
    latent_size: int = eqx.field(static=True)
    channels: int = eqx.field(static=True)
    basis: BasisName = eqx.field(static=True)

    def __check_init__(self):
        k = basis_size(self.basis)
        d2 = self.latent_size**2
        if self.alpha_raw.shape != (k,) or self.latent_basis.shape != (k, d2, d2):
            raise ValueError(
                f"`LatentSymmetryModel`: expected alpha_raw {(k,)} and latent_basis {(k, d2, d2)}; "
                f"got {self.alpha_raw.shape} and {self.latent_basis.shape}"
            )

    def alpha(self) -> Float[Array, " k"]:
        """The unit-norm generator coefficients `α / ||α||`."""
        return self.alpha_raw / jnp.sqrt(jnp.sum(self.alpha_raw**2) + 1e-12)

    def latent_generator(self) -> Float[Array, "d2 d2"]:
        """`G_α` in the latent patch space."""
        return jnp.tensordot(self.alpha(), jax.lax.stop_gradient(self.latent_basis), axes=1)

    def encode(self, x: Float[Array, "H W C"]) -> Float[Array, "channels d2"]:
        """Latent patches of one image."""
        return self.encoder(x.reshape(-1)).reshape(self.channels, self.latent_size**2)

    def decode(self, z: Float[Array, "channels d2"]) -> Float[Array, "H W C"]:
        """Image from latent patches."""
        return self.decoder(z.reshape(-1)).reshape(self.image_shape)

    def magnitude(self, x0: Float[Array, "H W C"], xt: Float[Array, "H W C"]) -> Float[Array, ""]:
        """The t-network's estimate of the magnitude relating `x0` to `x_t`."""
        return self.t_net(jnp.concatenate([x0.reshape(-1), xt.reshape(-1)]))[0]

    def transform_latent(
        self, z: Float[Array, "channels d2"], t: Float[Array, ""]
    ) -> Float[Array, "channels d2"]:
        """`exp(t G_α) z` for every channel (the exact matrix exponential, `d² x d²`)."""
        return z @ jsl.expm(t * self.latent_generator()).T


def make_symmetry_model(
    key: PRNGKeyArray,
    *,
    image_shape: tuple[int, int, int],
    latent_size: int = 5,
    channels: int = 1,
    widths: Sequence[int] = (512, 256, 128, 64),
    t_widths: Sequence[int] = (256, 64),
    basis: BasisName = "quadratic",
) -> LatentSymmetryModel:
    """Build a [`LatentSymmetryModel`][sgm_eqx.detect.LatentSymmetryModel] (App. D sizes).

    **Arguments:**

    - `key`: PRNG key for all initial weights and the initial `α` (uniform on the unit sphere).
    - `image_shape`: `(H, W, C)` of the images.
    - `latent_size`: side `d` of each latent patch (the paper uses 5).
    - `channels`: number of latent patches transformed in parallel.
    - `widths`: hidden widths of the encoder (the decoder uses them reversed).
    - `t_widths`: hidden widths of the t-network (input: both images, flattened).
    - `basis`: `"affine"` (6 terms) or `"quadratic"` (12 terms, eq. 3).
    """
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise ValueError(
            f"`make_symmetry_model(image_shape=...)`: expected (H, W, C); got {image_shape}"
        )
    if latent_size < 2 or channels < 1:
        raise ValueError(
            f"`make_symmetry_model`: expected latent_size >= 2 and channels >= 1; got "
            f"{latent_size}, {channels}"
        )
    k = basis_size(basis)
    h, w, c = image_shape
    n_in = h * w * c
    n_lat = channels * latent_size**2
    k_enc, k_dec, k_t, k_a = jr.split(key, 4)
    alpha_raw = jr.normal(k_a, (k,))
    alpha_raw = alpha_raw / jnp.linalg.norm(alpha_raw)
    return LatentSymmetryModel(
        encoder=ReluMLP(n_in, tuple(widths), n_lat, key=k_enc),
        decoder=ReluMLP(n_lat, tuple(reversed(widths)), n_in, key=k_dec),
        t_net=ReluMLP(2 * n_in, tuple(t_widths), 1, key=k_t),
        alpha_raw=alpha_raw,
        latent_basis=basis_matrices(latent_size, latent_size, basis),
        image_shape=(h, w, c),
        latent_size=latent_size,
        channels=channels,
        basis=basis,
    )
