"""Affine transformations of images in the normalised frame."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._frame import pixel_centres
from ._expm import expm_affine_parts
from ._image_action import AbstractImageAction


def _generator_parts(
    eta: Float[Array, " n_params"],
) -> tuple[Float[Array, "2 2"], Float[Array, "2"]]:
    """`Σ η_i G_i` as its linear block and translation column (see `Affine2D.from_params`)."""
    t_x, t_y, theta, log_sx, log_sy = eta[0], eta[1], eta[2], eta[3], eta[4]
    shear = eta[5] if eta.shape[0] == 6 else jnp.zeros_like(theta)
    linear = jnp.stack([jnp.stack([log_sx, shear - theta]), jnp.stack([shear + theta, log_sy])])
    return linear, jnp.stack([t_x, t_y])


#: The charts of [`sgm_eqx.groups.Affine2D`][] (`from_params(chart=...)`).
CHARTS = ("exp", "polar")


def _polar_parts(
    eta: Float[Array, " n_params"],
) -> tuple[Float[Array, "2 2"], Float[Array, "2"]]:
    """`(R(θ) exp(S), t)`: the polar chart of `Affine2D.from_params`."""
    t_x, t_y, theta, log_sx, log_sy = eta[0], eta[1], eta[2], eta[3], eta[4]
    c, s = jnp.cos(theta), jnp.sin(theta)
    rotation = jnp.stack([jnp.stack([c, -s]), jnp.stack([s, c])])
    if eta.shape[0] == 6:
        shear = eta[5]
        sym = jnp.stack([jnp.stack([log_sx, shear]), jnp.stack([shear, log_sy])])
        stretch, _ = expm_affine_parts(sym, jnp.zeros(2, dtype=eta.dtype))
    else:
        stretch = jnp.diag(jnp.exp(jnp.stack([log_sx, log_sy])))
    return rotation @ stretch, jnp.stack([t_x, t_y])


def _assemble(linear: Float[Array, "2 2"], translation: Float[Array, "2"]) -> Float[Array, "3 3"]:
    top = jnp.concatenate([linear, translation[:, None]], axis=1)
    bottom = jnp.array([[0.0, 0.0, 1.0]], dtype=top.dtype)
    return jnp.concatenate([top, bottom], axis=0)


def _inverse_parts(
    linear: Float[Array, "2 2"], translation: Float[Array, "2"]
) -> tuple[Float[Array, "2 2"], Float[Array, "2"]]:
    """Closed-form inverse of `p -> M p + t`: `p -> M^{-1} p - M^{-1} t` (2x2 adjugate)."""
    a, b = linear[0, 0], linear[0, 1]
    c, d = linear[1, 0], linear[1, 1]
    det = a * d - b * c
    inv = jnp.stack([jnp.stack([d, -b]), jnp.stack([-c, a])]) / det
    return inv, -(inv @ translation)


def params_with_translation(eta: Float[Array, " n_params"]) -> Float[Array, " n_params"]:
    """Exponential coordinates of the map with linear part `exp(B(eta))` and translation `eta[:2]`.

    `Affine2D.from_params(eta)` has the translation column `V t` (`V = Σ_k B^k / (k + 1)!`,
    `B` from `θ`, the log-scales and the shear), not `t`. This returns `eta` with `t`
    replaced by `V^{-1} eta[:2]`, so that the element's translation column IS `eta[:2]`:
    `Affine2D.from_params(params_with_translation(e)).matrix[:2, 2] == e[:2]`.

    Why: as a function of the image, the translation column of the canonicalising map is
    continuous, but `t` jumps where the angle wraps from `π` to `-π` (`V` changes sign
    there: a rotation by `π` about a point `c ≠ 0` has `t = ±(π/2) J c`). A network that
    predicts the translation column instead of `t` has no tear there
    ([`sgm_eqx.nn.InferenceNet`][]'s `readout`). `V` is invertible for `|θ| < 2π`.
    """
    inv, _ = _inverse_parts(translation_map(eta), jnp.zeros(2, dtype=eta.dtype))
    return jnp.concatenate([inv @ eta[:2], eta[2:]])


def translation_map(eta: Float[Array, " n_params"]) -> Float[Array, "2 2"]:
    """`V = Σ_k B^k / (k + 1)!`: the translation column of `Affine2D.from_params(eta)` is `V t`.

    `B` is the linear block of the generator (from `θ`, the log-scales and the shear,
    `eta[2:]`); `V` does not depend on `t = eta[:2]`. It is invertible for `|θ| < 2π`.
    """
    linear, _ = _generator_parts(eta)
    eye = jnp.eye(2, dtype=eta.dtype)
    return jax.vmap(lambda t: expm_affine_parts(linear, t)[1], out_axes=1)(eye)


class Affine2D(AbstractImageAction["Affine2D"]):
    r"""An invertible affine map of the plane, acting on images `"H W C"` and on points.

    **Frame.** Points are `(x, y)` in the normalised frame of the image: the image spans
    `[-1, 1]^2`, `x` grows to the right (columns), `y` grows *upward* (row 0 is at `y = +1`),
    the outer pixel edges lie at `±1` and pixel centres at `x_j = -1 + (2j + 1)/W`,
    `y_i = 1 - (2i + 1)/H` (PyTorch's `align_corners=False`, with `y` flipped). On a
    non-square image both axes are still scaled to `[-1, 1]`, so one normalised unit is `W/2`
    pixels along `x` and `H/2` pixels along `y`; a rotation is then rigid in the normalised
    frame but stretched in pixels (as with PyTorch's `affine_grid`).

    **Element.** `matrix` is the `3 x 3` homogeneous matrix `A = [[M, t], [0, 0, 1]]` of the
    map `p -> M p + t` *applied to the content*: `apply` moves the image content found at
    normalised point `p` to `A p`. So a positive rotation angle turns the content
    counter-clockwise as displayed, and a positive `t_x` moves it to the right.

    **Frame versus content (App. B of Allingham et al. 2024).** Resampling code such as
    PyTorch's `affine_grid`/`grid_sample` or `map_coordinates` transforms the *sampling grid*
    (the frame); the content then moves by the inverse, and composing such "frame matrices"
    multiplies them in the reverse order. This class hides that once and for all: `apply`
    samples the input at `A^{-1} q` for every output pixel centre `q`
    (`out(q) = in(A^{-1} q)`), so `matrix` is always the content map and
    `g.compose(h).matrix == g.matrix @ h.matrix`, the ordinary composition `g ∘ h`.

    **Resampling.** `apply` ([`sgm_eqx.groups.AbstractImageAction`][]) resamples exactly
    once, however many elements were composed into `self`, with
    [`sgm_eqx.image.resample`][] using the static `order` (0, 1 or 3: nearest,
    linear, cubic B-spline), `mode` (boundary handling, scipy's names) and `cval` (fill value
    for `mode="constant"`).

    **Fields:**

    - `matrix`: `Float[Array, "3 3"]` (leading batch axes allowed for a batch of elements).
    - `n_params`: 5 or 6 (static), the length of `eta` accepted by `with_params`.
    - `order`, `mode`, `cval`: interpolation configuration (static).
    - `chart`: how `with_params` maps `eta` to a matrix (static): `"exp"`, the paper's
      exponential coordinates, or `"polar"` (see `from_params`).
    """

    matrix: Float[Array, "*batch 3 3"] = eqx.field(converter=jnp.asarray)
    n_params: int = eqx.field(static=True, default=5)
    order: int = eqx.field(static=True, default=3)
    mode: str = eqx.field(static=True, default="constant")
    cval: float = eqx.field(static=True, default=0.0)
    chart: str = eqx.field(static=True, default="exp")

    def __check_init__(self):
        if jnp.shape(self.matrix)[-2:] != (3, 3):
            raise ValueError(
                f"`Affine2D(matrix=...)`: expected trailing shape (3, 3); "
                f"got {jnp.shape(self.matrix)}"
            )
        if self.n_params not in (5, 6):
            raise ValueError(f"`Affine2D(n_params=...)`: expected 5 or 6; got {self.n_params}")
        if self.chart not in CHARTS:
            raise ValueError(f"`Affine2D(chart=...)`: expected one of {CHARTS}; got {self.chart!r}")

    @classmethod
    def identity(
        cls,
        *,
        n_params: int = 5,
        order: int = 3,
        mode: str = "constant",
        cval: float = 0.0,
        chart: str = "exp",
    ) -> "Affine2D":
        """The identity element (`matrix = I`) with the given static configuration.

        **Arguments:**

        - `n_params`: 5 or 6, the parameter count `with_params` will expect.
        - `order`, `mode`, `cval`: interpolation configuration, see the class docstring.
        - `chart`: `"exp"` or `"polar"`, the chart `with_params` uses (see `from_params`).
        """
        return cls(
            matrix=jnp.eye(3), n_params=n_params, order=order, mode=mode, cval=cval, chart=chart
        )

    @classmethod
    def from_params(
        cls,
        eta: Float[Array, " n_params"],
        *,
        order: int = 3,
        mode: str = "constant",
        cval: float = 0.0,
        chart: str = "exp",
    ) -> "Affine2D":
        r"""The element `A = exp(Σ_i η_i G_i)` (`chart="exp"`) or its polar form (`"polar"`).

        **Arguments:**

        - `eta`: 5 or 6 parameters `(t_x, t_y, θ, log s_x, log s_y[, shear])`, in normalised
          units (`t`), radians (`θ`, counter-clockwise with `y` up) and natural-log scale
          factors. The generators `G_i` are: translation along `x`, translation along `y`,
          rotation `[[0, -1], [1, 0]]`, scaling of `x` `[[1, 0], [0, 0]]`, scaling of `y`
          `[[0, 0], [0, 1]]`, and (6th) the symmetric shear `[[0, 1], [1, 0]]` of Benton et
          al. (2020); rotation, shear and the two scalings span all of `gl(2)`. Because the
          generators do not commute, `t` is the generator coefficient, not the final
          translation, once `θ` or the scales are non-zero (`A = [[e^B, V t], [0, 1]]`).
        - `order`, `mode`, `cval`: interpolation configuration, see the class docstring.
        - `chart`: `"exp"` (the paper's exponential coordinates, above) or `"polar"`:
          `A = [[R(θ) exp(S), t], [0, 1]]` with `S = [[log s_x, shear], [shear, log s_y]]`,
          the polar decomposition of the linear part (a rotation after a symmetric stretch)
          and `t` the translation column itself. Both agree to first order at the identity.
          In exponential coordinates rotation and stretch mix: `exp(θJ + aK)` with
          `K = diag(1, -1)` stretches by `a sin(ω)/ω` (`ω² = θ² - a²`), nothing at `θ = π`,
          so an object whose canonical angle is far from 0 cannot be un-stretched; in the
          polar chart every `θ` stretches alike (docs: results, "What a prototype keeps of
          its input"). Not in the paper.

        The exponential is computed by [`sgm_eqx.groups.expm_affine`][] (branch-free, exact
        to float32 accuracy). If `eta` contains NaN or infinity an error is raised at run time
        (through `equinox.error_if`; see `EQX_ON_ERROR`).
        """
        eta = jnp.asarray(eta)
        if eta.ndim != 1 or eta.shape[0] not in (5, 6):
            got = eta.shape[0] if eta.ndim == 1 else f"shape {eta.shape}"
            raise ValueError(
                f"`Affine2D.from_params(eta=...)`: expected 5 or 6 parameters; got {got}"
            )
        if not jnp.issubdtype(eta.dtype, jnp.floating):
            raise TypeError(
                f"`Affine2D.from_params(eta=...)`: expected a floating array; got {eta.dtype}"
            )
        eta = eqx.error_if(
            eta, ~jnp.all(jnp.isfinite(eta)), "`Affine2D.from_params(eta=...)`: eta is not finite"
        )
        if chart == "polar":
            linear, translation = _polar_parts(eta)
        elif chart == "exp":
            linear, translation = expm_affine_parts(*_generator_parts(eta))
        else:
            raise ValueError(
                f"`Affine2D.from_params(chart=...)`: expected one of {CHARTS}; got {chart!r}"
            )
        return cls(
            matrix=_assemble(linear, translation),
            n_params=eta.shape[0],
            order=order,
            mode=mode,
            cval=cval,
            chart=chart,
        )

    def with_params(self, eta: Float[Array, " n_params"]) -> "Affine2D":
        """`Affine2D.from_params(eta)` with this element's interpolation configuration.

        `eta` must have `self.n_params` entries.
        """
        eta = jnp.asarray(eta)
        if eta.shape != (self.n_params,):
            raise ValueError(
                f"`Affine2D.with_params(eta=...)`: expected shape ({self.n_params},); "
                f"got {eta.shape}"
            )
        return type(self).from_params(
            eta, order=self.order, mode=self.mode, cval=self.cval, chart=self.chart
        )

    def _replace_matrix(self, matrix: Float[Array, "3 3"]) -> "Affine2D":
        return type(self)(
            matrix=matrix,
            n_params=self.n_params,
            order=self.order,
            mode=self.mode,
            cval=self.cval,
            chart=self.chart,
        )

    def compose(self, other: "Affine2D") -> "Affine2D":
        """Return `self ∘ other` (`other` acts first): `matrix = self.matrix @ other.matrix`.

        The result keeps `self`'s static configuration.
        """
        return self._replace_matrix(self.matrix @ other.matrix)

    def inverse(self) -> "Affine2D":
        """Return the inverse element, in closed form (2x2 adjugate, no `jnp.linalg.inv`)."""
        inv, shift = _inverse_parts(self.matrix[:2, :2], self.matrix[:2, 2])
        return self._replace_matrix(_assemble(inv, shift))

    def describe(self, x: Float[Array, "H W C"]) -> dict[str, Float[Array, ""]]:
        """This map as it acts on image `x`, about the centre of `x`'s content.

        With `c` the intensity centroid of `x` (normalised frame) and the linear part written
        `L = R(θ) S` (polar decomposition, `S` symmetric): `rotation_deg` is `θ` in degrees,
        `shift_x`/`shift_y` the displacement of `c` as a fraction of the frame's width/height
        (positive right/up), `scale` the area factor's square root `sqrt|det L|` and `aspect`
        the ratio `S_xx / S_yy` of the stretches along the content's own x and y axes.
        """
        h, w = x.shape[0], x.shape[1]
        mass = jnp.sum(x, axis=-1)
        xs, ys = (jnp.asarray(v, mass.dtype) for v in pixel_centres(h, w))
        total = jnp.maximum(jnp.sum(mass), 1e-12)
        cx = jnp.sum(mass * xs[None, :]) / total
        cy = jnp.sum(mass * ys[:, None]) / total
        lin = self.matrix[:2, :2]
        theta = jnp.arctan2(lin[1, 0] - lin[0, 1], lin[0, 0] + lin[1, 1])
        c, s = jnp.cos(theta), jnp.sin(theta)
        sym = jnp.stack([jnp.stack([c, s]), jnp.stack([-s, c])]) @ lin  # R(θ)^T L
        moved = self.transform_points(jnp.stack([cx, cy]))
        return {
            "rotation_deg": jnp.degrees(theta),
            "shift_x": (moved[0] - cx) / 2,
            "shift_y": (moved[1] - cy) / 2,
            "scale": jnp.sqrt(jnp.abs(jnp.linalg.det(lin))),
            "aspect": sym[0, 0] / sym[1, 1],
        }

    def transform_points(self, points: Float[Array, "*batch 2"]) -> Float[Array, "*batch 2"]:
        """Map points exactly: `p -> M p + t`.

        **Arguments:**

        - `points`: `(x, y)` coordinates in the normalised frame, last axis of size 2.

        **Returns:**

        The transformed points, same shape. For any `g, h`:
        `g.compose(h).transform_points(p) == g.transform_points(h.transform_points(p))` up to
        float rounding.
        """
        m = self.matrix
        px, py = points[..., 0], points[..., 1]
        # element-wise, not a dot: XLA fuses it into the resampler's coordinate computation
        return jnp.stack(
            [m[0, 0] * px + m[0, 1] * py + m[0, 2], m[1, 0] * px + m[1, 1] * py + m[1, 2]],
            axis=-1,
        )
