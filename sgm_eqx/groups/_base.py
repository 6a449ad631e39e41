"""The interface every group action implements."""

import abc
from typing import TypeVar

import equinox as eqx
from jaxtyping import Array, Float

# `typing.Self` is not used: beartype (run on every sgm_eqx function by the jaxtyping import
# hook in the tests) rejects `Self` outside classes it decorates itself. A bound TypeVar says
# the same thing to pyright and works under beartype.
_Action = TypeVar("_Action", bound="AbstractGroupAction")


class AbstractGroupAction(eqx.Module):
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

    **Implementing an action:** write `n_params` (static field), `identity`,
    `from_params`, `with_params`, `compose`, `inverse`, `apply` and `describe`.
    """

    n_params: eqx.AbstractVar[int]

    @classmethod
    @abc.abstractmethod
    def identity(cls: type[_Action], **config) -> _Action:
        """The identity element, with the given static configuration."""

    @classmethod
    @abc.abstractmethod
    def from_params(cls: type[_Action], eta: Float[Array, " n_params"], **config) -> _Action:
        """The element with transformation parameters `eta` and the given configuration."""

    @abc.abstractmethod
    def with_params(self: _Action, eta: Float[Array, " n_params"]) -> _Action:
        """A new element of the same kind and static configuration as `self`, built from `eta`.

        This is how generic code (losses, models) turns network outputs into elements: it
        holds a template element (usually `identity(...)`) and calls
        `template.with_params(eta)`.
        """

    @abc.abstractmethod
    def compose(self: _Action, other: _Action) -> _Action:
        """Return `self ∘ other` (`other` acts first)."""

    @abc.abstractmethod
    def inverse(self: _Action) -> _Action:
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
