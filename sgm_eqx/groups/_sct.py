"""Special conformal transformations (SCTs) of the plane: a non-affine group action."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._image_action import AbstractImageAction

# Points whose SCT denominator falls below this are sent "to infinity" (outside any image).
_SINGULAR_EPS = 1e-12


def _sct_points(b: Float[Array, "2"], p: Float[Array, "*batch 2"]) -> Float[Array, "*batch 2"]:
    b = jnp.reshape(b, (1,) * (p.ndim - 1) + (2,))  # explicit broadcast over batch axes
    sq = jnp.sum(p * p, axis=-1, keepdims=True)
    bp = jnp.sum(b * p, axis=-1, keepdims=True)
    den = 1.0 - 2.0 * bp + jnp.sum(b * b) * sq
    singular = den <= _SINGULAR_EPS
    safe = jnp.where(singular, 1.0, den)
    out = (p - b * sq) / safe
    # The point `b / |b|^2` is sent to infinity; represent infinity by a far-away point so that
    # image look-ups there return `cval` instead of NaN.
    return jnp.where(singular, jnp.full_like(out, 1e6), out)


class SpecialConformal(AbstractImageAction["SpecialConformal"]):
    """A special conformal transformation of the plane, acting on points and on images.

    With vector parameter `b = eta` (shape `(2,)`), the element maps a point `x` (normalised
    frame of [`sgm_eqx.groups.Affine2D`][]: origin at the image centre, x to the right, y up,
    the image spans `[-1, 1]^2` with pixel centres at `(2c + 1)/W - 1` and `1 - (2r + 1)/H`) to

        x' = (x - b |x|^2) / (1 - 2 b·x + |b|^2 |x|^2).

    It is inversion, translation by `-b`, inversion. SCTs form an abelian group isomorphic to
    `(R^2, +)`: `compose` adds the `b`'s, `inverse` negates `b`, the identity is `b = 0`, and
    `from_params(eta)` is a homomorphism along every ray (and everywhere).

    Acting on an image "H W C" ([`sgm_eqx.groups.AbstractImageAction`][]), content at `x`
    moves to `x'`: the output is the input pulled back through the inverse,
    `out(p) = image(SCT_{-b}(p))`, sampled once with [`sgm_eqx.image.resample`][] (`order`
    0, 1 or 3; pixels mapped outside the image read `cval` under `mode="constant"`). The
    point `b/|b|^2` is sent to infinity; output pixels whose pre-image is at infinity read
    `cval`.

    **Fields:**

    - `b`: `Float[Array, "2"]`, the parameter `(b_x, b_y)` in normalised units.
    - `order`, `mode`, `cval`: interpolation configuration for images (static).
    """

    b: Float[Array, "2"]
    order: int = eqx.field(static=True, default=1)
    mode: str = eqx.field(static=True, default="constant")
    cval: float = eqx.field(static=True, default=0.0)
    n_params: int = eqx.field(static=True, default=2)

    def __check_init__(self):
        if self.n_params != 2:
            raise ValueError(f"`SpecialConformal(n_params=...)`: must be 2; got {self.n_params}")
        if jnp.shape(self.b)[-1:] != (2,):
            raise ValueError(
                f"`SpecialConformal(b=...)`: expected trailing shape (2,); got {jnp.shape(self.b)}"
            )

    @classmethod
    def identity(
        cls, *, order: int = 1, mode: str = "constant", cval: float = 0.0
    ) -> "SpecialConformal":
        """The identity element `b = 0`."""
        return cls(b=jnp.zeros(2), order=order, mode=mode, cval=cval)

    @classmethod
    def from_params(
        cls,
        eta: Float[Array, " n_params"],
        *,
        order: int = 1,
        mode: str = "constant",
        cval: float = 0.0,
    ) -> "SpecialConformal":
        """The element with `b = eta` (`eta` of shape `(2,)`: `(b_x, b_y)`)."""
        eta = jnp.asarray(eta)
        if eta.shape != (2,):
            raise ValueError(
                f"`SpecialConformal.from_params(eta=...)`: expected shape (2,); got {eta.shape}"
            )
        return cls(b=eta, order=order, mode=mode, cval=cval)

    def with_params(self, eta: Float[Array, " n_params"]) -> "SpecialConformal":
        """The element `b = eta` with this element's interpolation configuration."""
        return type(self).from_params(eta, order=self.order, mode=self.mode, cval=self.cval)

    def compose(self, other: "SpecialConformal") -> "SpecialConformal":
        """Return `self ∘ other` (`other` acts first); SCTs commute, so this adds the `b`'s."""
        return type(self)(b=self.b + other.b, order=self.order, mode=self.mode, cval=self.cval)

    def inverse(self) -> "SpecialConformal":
        """Return the inverse element, `b -> -b`."""
        return type(self)(b=-self.b, order=self.order, mode=self.mode, cval=self.cval)

    def describe(self, x: Float[Array, "H W C"]) -> dict[str, Float[Array, ""]]:
        """`b_x`, `b_y`: the SCT's vector parameter (normalised units); `x` is unused."""
        del x
        return {"b_x": self.b[0], "b_y": self.b[1]}

    def transform_points(self, points: Float[Array, "*batch 2"]) -> Float[Array, "*batch 2"]:
        """Map points `(..., 2)` given as `(x, y)` in the normalised frame (exact)."""
        return _sct_points(self.b, points)
