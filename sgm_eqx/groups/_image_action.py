"""The base of every action that moves image content by a map of the plane."""

import abc
from typing import Any, TypeVar, cast, get_args

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._frame import pixel_centres, to_pixel
from ..image import resample
from ..image._interpolate import Mode
from ._base import AbstractGroupAction

#: Interpolation orders accepted by every image action (nearest, linear, cubic B-spline).
IMAGE_ORDERS: tuple[int, ...] = (0, 1, 3)
#: Boundary modes accepted by every image action (scipy's names).
IMAGE_MODES: tuple[str, ...] = get_args(Mode)

# Output pixels whose source lies within this many pixels outside the outermost pixel centres
# are sampled at the edge rather than replaced by `cval` (mode "constant" only). Without it, a
# composed identity such as `g.compose(g.inverse())` (the identity only up to float rounding)
# could turn its outermost pixels, whose sources lie exactly at `0` or `n - 1`, into `cval`.
_EDGE_TOLERANCE = 1e-3

_I = TypeVar("_I", bound="AbstractImageAction[Any]")


class AbstractImageAction(AbstractGroupAction[_I]):
    """A group action on images `"H W C"` by an invertible map of the plane.

    Subclasses say how the element moves points (`transform_points`) and how it composes
    and inverts; `apply` is written here once for all of them: the output at pixel centre
    `q` is the input at `g^{-1} q` (`out(q) = in(g^{-1} q)`), sampled once with
    [`sgm_eqx.image.resample`][]. Points are in the normalised frame of
    [`sgm_eqx.groups.Affine2D`][] (the image spans `[-1, 1]²`, `x` right, `y` up).

    **Fields every subclass declares** (static configuration, validated here):

    - `order`: interpolation order, one of `IMAGE_ORDERS` (0, 1, 3).
    - `mode`: boundary mode, one of `IMAGE_MODES` (scipy's names).
    - `cval`: the value read outside the image under `mode="constant"`.
    """

    order: eqx.AbstractVar[int]
    mode: eqx.AbstractVar[str]
    cval: eqx.AbstractVar[float]

    def __check_init__(self):
        name = type(self).__name__
        if self.order not in IMAGE_ORDERS:
            raise ValueError(
                f"`{name}(order=...)`: expected one of {IMAGE_ORDERS}; got {self.order}"
            )
        if self.mode not in IMAGE_MODES:
            raise ValueError(
                f"`{name}(mode=...)`: expected one of {IMAGE_MODES}; got {self.mode!r}"
            )

    @abc.abstractmethod
    def transform_points(self, points: Float[Array, "*batch 2"]) -> Float[Array, "*batch 2"]:
        """Map points `(..., 2)`, given as `(x, y)` in the normalised frame, exactly.

        For any `g, h`: `g.compose(h).transform_points(p)` equals
        `g.transform_points(h.transform_points(p))` up to float rounding.
        """

    def apply(self, x: Float[Array, "H W C"]) -> Float[Array, "H W C"]:
        """Transform an image: the content at normalised point `p` moves to `g p`.

        **Arguments:**

        - `x`: floating image of shape `(H, W, C)` (any `C ≥ 1`).

        **Returns:**

        The transformed image, same shape and dtype: `out(q) = x(g^{-1} q)` at every output
        pixel centre `q`, sampled once with [`sgm_eqx.image.resample`][] (`order`, `mode`,
        `cval` of `self`), however many elements were composed into `self`. Content moved in
        from outside the image reads according to `mode` (`cval` for `"constant"`; source
        points within `1e-3` pixel outside the outermost pixel centres, e.g. from float
        rounding in a composed identity, read the edge).
        """
        name = type(self).__name__
        if x.ndim != 3:
            raise ValueError(
                f"`{name}.apply(x=...)`: expected an image of shape (H, W, C); got shape {x.shape}"
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"`{name}.apply(x=...)`: expected a floating image; got {x.dtype}")
        height, width, _ = x.shape
        xs, ys = pixel_centres(height, width)
        grid = jnp.stack(jnp.broadcast_arrays(xs[None, :], ys[:, None]), axis=-1)
        # the pre-image map in the image's dtype (also under strict dtype promotion)
        inverse = jax.tree.map(
            lambda a: a.astype(x.dtype) if eqx.is_inexact_array(a) else a, self.inverse()
        )
        src = inverse.transform_points(grid.astype(x.dtype))
        coords = to_pixel(src[..., 0], src[..., 1], height, width)
        return resample(
            x,
            coords,
            order=self.order,
            mode=cast(Mode, self.mode),  # validated in __check_init__
            cval=self.cval,
            edge_tolerance=_EDGE_TOLERANCE,
        )
