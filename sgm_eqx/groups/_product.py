"""Direct products of two group actions on the same input."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractGroupAction


class Product(AbstractGroupAction["Product"]):
    """The direct product `G_1 x G_2` of two actions on the same kind of input.

    An element is a pair `(g_1, g_2) = (first, second)`. Group operations are componentwise:
    `(g_1, g_2) ∘ (h_1, h_2) = (g_1 ∘ h_1, g_2 ∘ h_2)` and
    `(g_1, g_2)^{-1} = (g_1^{-1}, g_2^{-1})`. Parameters are concatenated, `first`'s then
    `second`'s: `eta = (eta_1, eta_2)` with `len(eta_1) == first.n_params`.

    **Action.** `apply(x) = first.apply(second.apply(x))`: `second` acts first, then `first`,
    i.e. the pair acts as `g_1 ∘ g_2` (read `Product(a, b)` as "`a` after `b`"). For
    `Product(Affine2D, HSVColor)` the colour shift is applied before the single resampling.

    **Compatibility.** `(g ∘ h).apply(x) = g_1 g_2 h_1 h_2 x` while applying twice gives
    `g_1 h_1 g_2 h_2 x` (in operator notation), so `Product` is an action on inputs
    (`g.compose(h).apply(x) == g.apply(h.apply(x))`) exactly when the two component actions
    commute on inputs. [`sgm_eqx.groups.Affine2D`][] and [`sgm_eqx.groups.HSVColor`][] do (one
    moves pixels, the other maps each pixel's colour), up to interpolation of the colour map
    and HSV clipping.

    **Fields:**

    - `first`, `second`: the component elements (any actions, including `Product`s).
    - `n_params`: `first.n_params + second.n_params` (static, derived).
    """

    first: AbstractGroupAction
    second: AbstractGroupAction
    n_params: int = eqx.field(static=True, init=False)

    def __init__(self, first: AbstractGroupAction, second: AbstractGroupAction):
        """Pair two elements; `second` acts on inputs first (see the class docstring)."""
        if not isinstance(first, AbstractGroupAction):
            raise TypeError(f"`Product(first=...)`: expected a group action; got {type(first)}")
        if not isinstance(second, AbstractGroupAction):
            raise TypeError(f"`Product(second=...)`: expected a group action; got {type(second)}")
        self.first = first
        self.second = second
        self.n_params = first.n_params + second.n_params

    @classmethod
    def identity(cls, *, first: AbstractGroupAction, second: AbstractGroupAction) -> "Product":
        """The identity of the product of the groups of the templates `first` and `second`.

        Each template's configuration is kept; its identity is `template.with_params(0)`
        (the homomorphism law of `from_params` makes `from_params(0)` idempotent, hence the
        identity).
        """
        return cls(
            first.with_params(jnp.zeros(first.n_params)),
            second.with_params(jnp.zeros(second.n_params)),
        )

    @classmethod
    def from_params(
        cls,
        eta: Float[Array, " n_params"],
        *,
        first: AbstractGroupAction,
        second: AbstractGroupAction,
    ) -> "Product":
        """The element `(first.with_params(eta_1), second.with_params(eta_2))`.

        **Arguments:**

        - `eta`: `first.n_params + second.n_params` parameters, `first`'s then `second`'s.
        - `first`, `second`: template elements giving the kinds and static configuration of
          the components (their own parameters are ignored).
        """
        return cls(first, second).with_params(eta)

    def with_params(self, eta: Float[Array, " n_params"]) -> "Product":
        """Split `eta` as `(eta_1, eta_2)` and call `with_params` on each component."""
        eta = jnp.asarray(eta)
        if eta.shape != (self.n_params,):
            raise ValueError(
                f"`Product.with_params(eta=...)`: expected shape ({self.n_params},); "
                f"got {eta.shape}"
            )
        n_first = self.first.n_params
        return type(self)(
            self.first.with_params(eta[:n_first]), self.second.with_params(eta[n_first:])
        )

    def compose(self, other: "Product") -> "Product":
        """Return `self ∘ other`, componentwise."""
        return type(self)(self.first.compose(other.first), self.second.compose(other.second))

    def inverse(self) -> "Product":
        """Return the inverse element, componentwise."""
        return type(self)(self.first.inverse(), self.second.inverse())

    def describe(self, x: Array) -> dict[str, Float[Array, ""]]:
        """Both components' descriptions; `first`'s is of its action on `second.apply(x)`."""
        return {**self.second.describe(x), **self.first.describe(self.second.apply(x))}

    def apply(self, x: Array) -> Array:
        """Act on `x` as `first.apply(second.apply(x))` (`second` first)."""
        return self.first.apply(self.second.apply(x))
