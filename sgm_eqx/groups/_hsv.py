"""Colour transformations in HSV space (App. C.5 of Allingham et al. 2024)."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..image import hsv_to_rgb, rgb_to_hsv
from ._base import AbstractGroupAction


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def passthrough_clip(x: Float[Array, "*shape"], lo: float, hi: float) -> Float[Array, "*shape"]:
    """`jnp.clip(x, lo, hi)` whose derivative is 1 everywhere (a straight-through clip).

    App. C.5 of the paper: with the true derivative (0 outside `[lo, hi]`) a saturated pixel
    passes no gradient to the colour parameters, which stalls training.
    """
    return jnp.clip(x, lo, hi)


@passthrough_clip.defjvp
def _passthrough_clip_jvp(lo, hi, primals, tangents):
    (x,) = primals
    (x_dot,) = tangents
    return passthrough_clip(x, lo, hi), x_dot


def _wrap_hue(params: Float[Array, "*batch 3"]) -> Float[Array, "*batch 3"]:
    return params.at[..., 0].set(jnp.mod(params[..., 0], 1.0))


class HSVColor(AbstractGroupAction["HSVColor"]):
    """A colour transformation of RGB images: hue rotation and saturation/value scaling.

    With `params = (η_h, η_s, η_v)` every pixel's HSV triple is mapped as (eq. 25 of
    Allingham et al. 2024, with hue in turns rather than radians)

        h' = (h + η_h) mod 1,   s' = clip(s · exp(η_s), 0, 1),   v' = clip(v · exp(η_v), 0, 1).

    Units: `η_h` in turns (1 = a full turn of the colour wheel, `1/3` maps red to green),
    `η_s` and `η_v` are natural-log factors. The parameters form the abelian group
    `(R/Z) x R x R`: `compose` adds them (hue modulo 1), `inverse` negates them, the identity
    is `0`, so `from_params` is a homomorphism everywhere. The stored hue is always wrapped
    into `[0, 1)`.

    **Clipping breaks exact compatibility.** The action on images is compatible with
    composition (`g.compose(h).apply(x) == g.apply(h.apply(x))`) exactly as long as no clip is
    active in the intermediate image. When `h` pushes a saturation or value above 1, the
    clipped information is lost: e.g. `v = 0.8`, `h: η_v = log 2`, `g: η_v = -log 2` gives
    `g.apply(h.apply(x))` with `v = 0.5` but `g.compose(h)` is the identity (`v = 0.8`). Hue
    is unaffected. The clip uses a pass-through gradient ([`passthrough_clip`]: derivative 1
    even where the clip is active), as the paper prescribes for training.

    **Fields:**

    - `params`: `Float[Array, "3"]` = `(hue shift [turns, in [0, 1)], log saturation factor,
      log value factor)`; leading batch axes allowed for a batch of elements.
    - `n_params`: always 3 (static).
    """

    params: Float[Array, "*batch 3"]
    n_params: int = eqx.field(static=True, default=3, init=False)

    def __init__(self, params: Float[Array, "*batch 3"]):
        """Build the element from `(η_h, η_s, η_v)`; the hue is wrapped into `[0, 1)`."""
        params = jnp.asarray(params)
        if params.shape[-1:] != (3,):
            raise ValueError(
                f"`HSVColor(params=...)`: expected trailing shape (3,); got {params.shape}"
            )
        if not jnp.issubdtype(params.dtype, jnp.floating):
            raise TypeError(
                f"`HSVColor(params=...)`: expected a floating array; got {params.dtype}"
            )
        self.params = _wrap_hue(params)

    @classmethod
    def identity(cls) -> "HSVColor":
        """The identity element, `params = (0, 0, 0)`."""
        return cls(jnp.zeros(3))

    @classmethod
    def from_params(cls, eta: Float[Array, " n_params"]) -> "HSVColor":
        """The element with `params = eta = (η_h [turns], η_s, η_v)`, hue wrapped into `[0, 1)`.

        An error is raised at run time (`equinox.error_if`) if `eta` is not finite.
        """
        eta = jnp.asarray(eta)
        if eta.shape != (3,):
            got = eta.shape[0] if eta.ndim == 1 else f"shape {eta.shape}"
            raise ValueError(f"`HSVColor.from_params(eta=...)`: expected 3 parameters; got {got}")
        eta = eqx.error_if(
            eta, ~jnp.all(jnp.isfinite(eta)), "`HSVColor.from_params(eta=...)`: eta is not finite"
        )
        return cls(eta)

    def with_params(self, eta: Float[Array, " n_params"]) -> "HSVColor":
        """Same as `HSVColor.from_params(eta)` (the action has no static configuration)."""
        return type(self).from_params(eta)

    def compose(self, other: "HSVColor") -> "HSVColor":
        """Return `self ∘ other`: the parameters add (hue modulo 1); colour shifts commute."""
        return type(self)(self.params + other.params)

    def inverse(self) -> "HSVColor":
        """Return the inverse element, `-params` (hue wrapped into `[0, 1)`)."""
        return type(self)(-self.params)

    def describe(self, x: Float[Array, "H W 3"]) -> dict[str, Float[Array, ""]]:
        """`hue_turns` (the hue shift in `[-1/2, 1/2)` turns), `saturation` and `value` factors.

        The same for every input (`x` is unused: colour shifts act pixel-wise).
        """
        del x
        hue = jnp.mod(self.params[0] + 0.5, 1.0) - 0.5
        return {
            "hue_turns": hue,
            "saturation": jnp.exp(self.params[1]),
            "value": jnp.exp(self.params[2]),
        }

    def apply(self, x: Float[Array, "H W 3"]) -> Float[Array, "H W 3"]:
        """Colour-transform an RGB image (eq. 25; see the class docstring).

        **Arguments:**

        - `x`: floating RGB image of shape `(H, W, 3)` with values in `[0, 1]`.

        **Returns:**

        The transformed RGB image, same shape and dtype, values in `[0, 1]`.
        Differentiable in `x` and in `params` (pass-through gradient at the clips).
        """
        if x.ndim != 3 or x.shape[-1] != 3:
            raise ValueError(
                f"`HSVColor.apply(x=...)`: expected an RGB image of shape (H, W, 3); "
                f"got shape {x.shape}"
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"`HSVColor.apply(x=...)`: expected a floating image; got {x.dtype}")
        params = self.params.astype(x.dtype)
        hsv = rgb_to_hsv(x)
        hue = jnp.mod(hsv[..., 0] + params[0], 1.0)
        sat = passthrough_clip(hsv[..., 1] * jnp.exp(params[1]), 0.0, 1.0)
        val = passthrough_clip(hsv[..., 2] * jnp.exp(params[2]), 0.0, 1.0)
        return hsv_to_rgb(jnp.stack([hue, sat, val], axis=-1))
