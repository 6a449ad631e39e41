"""The interface every group action implements."""

import abc
from typing import Any, Generic, TypeVar

import equinox as eqx
from jaxtyping import Array, Float

# The concrete action's own type. The base is generic in it
# (`class Affine2D(AbstractImageAction["Affine2D"])`) so that `compose` takes and returns the
# concrete type. `typing.Self` cannot say this: an override may not narrow a `Self` parameter
# (`compose(self, other: Self)`), so every action's `compose` would be an incompatible override
# for pyright; and beartype rejects `Self` outside classes it decorates itself.
_G = TypeVar("_G", bound="AbstractGroupAction[Any]")


class AbstractGroupAction(eqx.Module, Generic[_G]):
    """One element `g` of a transformation group together with how it acts on inputs.

    An element is a pytree: a batch of elements is one instance whose array leaves carry
    leading batch axes, so elements work under `jax.vmap`, `jax.jit` and `jax.grad`
    (w.r.t. the parameters `eta` used to build them and w.r.t. the input they act on).
    Methods act on a single element and a single input; batch with `jax.vmap`.

    Static configuration (interpolation order, boundary mode, ...) lives in
    `eqx.field(static=True)` fields and is carried over by `compose`, `inverse` and
    `with_params`.

    **Conventions shared by every action:**

    - `g.compose(h)` is `g ∘ h`: `h` acts first, so
      `g.compose(h).apply(x) ≈ g.apply(h.apply(x))`, with equality up to one resampling
      for image actions (the composed element resamples once).
    - `g.inverse().compose(g)` and `g.compose(g.inverse())` are the identity.
    - `from_params(eta)` is a group homomorphism along each ray:
      `from_params(s * eta).compose(from_params(t * eta)) == from_params((s + t) * eta)`.

    **Implementing an action:** subclass `AbstractGroupAction["MyAction"]` (the type
    parameter is the action's own type: `compose` takes and returns a `MyAction`) and write
    `n_params` (static field), `identity`, `from_params`, `with_params`, `compose`, `inverse`,
    `apply` and `describe`. `identity` and `from_params` take the action's own keyword-only
    static configuration (`order=...`, `generators=...`), which differs from action to
    action; generic code builds elements from a template with `with_params` instead.
    """

    n_params: eqx.AbstractVar[int]

    # `*args: Any, **config: Any` is the typing spec's gradual signature: each action declares
    # its own keyword-only configuration (`order=...`, `generators=...`) in its override.
    @classmethod
    @abc.abstractmethod
    def identity(cls, *args: Any, **config: Any) -> _G:
        """The identity element, with the given static configuration."""

    @classmethod
    @abc.abstractmethod
    def from_params(cls, eta: Float[Array, " n_params"], *args: Any, **config: Any) -> _G:
        """The element with transformation parameters `eta` and the given configuration."""

    @abc.abstractmethod
    def with_params(self, eta: Float[Array, " n_params"]) -> _G:
        """A new element of the same kind and static configuration as `self`, built from `eta`.

        This is how generic code (losses, models) turns network outputs into elements: it
        holds a template element (usually `identity(...)`) and calls
        `template.with_params(eta)`.
        """

    @abc.abstractmethod
    def compose(self, other: _G) -> _G:
        """Return `self ∘ other` (`other` acts first)."""

    @abc.abstractmethod
    def inverse(self) -> _G:
        """Return the inverse element."""

    @abc.abstractmethod
    def apply(self, x: Array) -> Array:
        """Act on one input `x` (an image, a point, a vector, ... as the action documents)."""

    @abc.abstractmethod
    def describe(self, x: Array) -> dict[str, Float[Array, ""]]:
        """This element in natural units, as it acts on the input `x`.

        The vocabulary of the symmetry report (`sgm-eqx report`): a dict of named scalars
        that do not depend on how the parameters are chosen (e.g. for images: the rotation
        in degrees about the content's centre, the shift as a fraction of the frame, scale
        factors). The identity gives each entry's neutral value (0 for shifts and angles, 1
        for factors).
        """
