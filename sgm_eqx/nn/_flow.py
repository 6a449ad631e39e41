"""The generative network p_ψ(η | x̂): a conditional neural spline flow built from flowjax."""

import abc
import functools
import itertools
import math

import einops
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import paramax
from flowjax.bijections import (
    AbstractBijection,
    Chain,
    Coupling,
    Permute,
    RationalQuadraticSpline,
    Scale,
    Scan,
    Tanh,
)
from flowjax.distributions import AbstractDistribution, Transformed
from jax.scipy import stats as jstats
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import image_shape_arg
from ._inference import _check_eta_bound
from ._mlp import (
    MLP,
    PAPER_BASE_HIDDEN,
    PAPER_FEATURE_HIDDEN,
    AbstractImageEncoder,
    BlurredEncoder,
    MLPEncoder,
    dense,
)

_INV_SOFTPLUS_ONE = math.log(math.e - 1.0)


def _bounding_bijection(eta_bound: tuple[float, ...], squash: bool) -> AbstractBijection:
    """η = η_max ⊙ tanh(u) (`Tanh` then `Scale`), or η = η_max ⊙ u (`Scale`), in flowjax.

    Built on the fly from the static bound and unwrapped, so it has no trainable leaves.
    """
    shape = (len(eta_bound),)
    scale = paramax.non_trainable(Scale(jnp.asarray(eta_bound)))
    bij = Chain([Tanh(shape), scale]) if squash else scale
    return paramax.unwrap(bij)


def _wrap(angle: Array) -> Array:
    """`angle` wrapped to `[-π, π)`."""
    return jnp.mod(angle + jnp.pi, 2 * jnp.pi) - jnp.pi


class AbstractConditionalNormal(AbstractDistribution):
    """A diagonal Normal whose `(μ, σ)` a network predicts from the condition vector.

    Subclasses implement `loc_and_scale(condition)`; the density and the sampler are
    written here once. flowjax has no distribution whose parameters come from a network.
    """

    @abc.abstractmethod
    def loc_and_scale(
        self, condition: Float[Array, " cond_dim"]
    ) -> tuple[Float[Array, " dim"], Float[Array, " dim"]]:
        """`(μ, σ)` for one condition vector."""

    def _log_prob(self, x, condition=None):
        assert condition is not None  # flowjax checks cond_shape before calling
        loc, scale = self.loc_and_scale(condition)
        return jstats.norm.logpdf(x, loc, scale).sum()

    def _sample(self, key, condition=None):
        assert condition is not None
        loc, scale = self.loc_and_scale(condition)
        return loc + scale * jr.normal(key, loc.shape, loc.dtype)


class ConditionalNormal(AbstractConditionalNormal):
    r"""A diagonal Normal whose mean and scale are predicted from a feature vector.

    $p(z \mid h) = \mathcal{N}(z; \mu(h), \mathrm{diag}\,\sigma(h)^2)$ with
    $[\mu, \tilde\sigma] = \mathrm{Linear}(\mathrm{MLP}(h))$ and
    $\sigma = \mathrm{softplus}(\tilde\sigma + \mathrm{softplus}^{-1}(1))$.
    A flowjax distribution with `shape = (dim,)` and `cond_shape = (cond_dim,)` (the
    feature vector), used as the base of [`sgm_eqx.nn.TransformationFlow`][] (App. C
    "Generative network": MLP `[256, 256]` on the shared features). flowjax has no
    distribution whose parameters come from a network, hence this small class.

    **Initialisation:** the output layer is zero, so at init μ = 0 and σ = 1 for every h
    (standard normal).
    """

    mlp: MLP
    out: eqx.nn.Linear
    shape: tuple[int] = eqx.field(static=True)
    cond_shape: tuple[int, ...] | None = eqx.field(static=True)

    def __init__(self, dim: int, cond_dim: int, hidden: tuple[int, ...], *, key: PRNGKeyArray):
        """Build the MLP and its zero-initialised output layer.

        **Arguments:**

        - `dim`: dimension of the distribution.
        - `cond_dim`: length of the feature vector it is conditioned on.
        - `hidden`: MLP block widths (paper: `(256, 256)`).
        - `key`: PRNG key.
        """
        if int(dim) < 1 or int(cond_dim) < 1:
            raise ValueError(
                f"`ConditionalNormal(dim=..., cond_dim=...)`: expected positive sizes; "
                f"got dim={dim}, cond_dim={cond_dim}."
            )
        mlp_key, out_key = jr.split(key)
        self.mlp = MLP(int(cond_dim), hidden, key=mlp_key)
        out = eqx.nn.Linear(self.mlp.out_size, 2 * int(dim), key=out_key)
        self.out = eqx.tree_at(lambda m: (m.weight, m.bias), out, replace_fn=jnp.zeros_like)
        self.shape = (int(dim),)
        self.cond_shape = (int(cond_dim),)

    def loc_and_scale(
        self, condition: Float[Array, " cond_dim"]
    ) -> tuple[Float[Array, " dim"], Float[Array, " dim"]]:
        """`(μ(h), σ(h))` for one feature vector `h`."""
        out = self.out(self.mlp(condition))
        loc, raw = out[: self.shape[0]], out[self.shape[0] :]
        return loc, jax.nn.softplus(raw + _INV_SOFTPLUS_ONE)


class AbstractTransformationDensity(AbstractDistribution):
    """p(η | x̂) as an [`sgm_eqx.SGM`][] uses it: a flowjax distribution conditioned on images.

    `shape = (n_params,)` (η) and `cond_shape = (H, W, C)` (the prototype x̂).

    Beyond flowjax's interface (`log_prob`, `sample`, ...) it has the training-mode
    log-density the stage-2 loss calls, so the loss never asks which density it has.
    Final subclasses: [`sgm_eqx.nn.TransformationFlow`][] (the paper's flow) and
    [`sgm_eqx.nn.ImageConditioned`][] (adapts any flowjax distribution).
    """

    @abc.abstractmethod
    def log_prob_with_dropout(
        self, eta: Float[Array, " n_params"], x_hat: Float[Array, "H W C"], *, key: PRNGKeyArray
    ) -> Float[Array, ""]:
        """Log p(η | x̂) for ONE example in training mode (dropout drawn from `key`)."""


class TransformationFlow(AbstractTransformationDensity):
    r"""p_ψ(η | x̂): a conditional neural spline flow on η given a prototype image x̂.

    A flowjax distribution with `shape = (n_params,)` and `cond_shape = (H, W, C)`, so
    `flow.log_prob(eta, condition=x_hat)`, `flow.sample(key, sample_shape,
    condition=x_hat)` and `flow.sample_and_log_prob(...)` work as for any flowjax
    distribution (with flowjax's leading-batch broadcasting).

    **Generative direction** (App. C "Generative network"):

    1. features h = E(x̂), a shared extractor (default: flatten + MLP `[1024, 512, 512]`),
       computed ONCE per `log_prob`/`sample` call and fed to every piece below;
    2. base z ~ N(μ(h), diag σ(h)²) ([`sgm_eqx.nn.ConditionalNormal`][], MLP `[256, 256]`);
    3. `flow_layers` rational-quadratic spline coupling layers (flowjax `Coupling` +
       `RationalQuadraticSpline`, `bins` bins on `[-interval, interval]`, identity outside),
       each conditioner an MLP with one hidden layer of `nn_width` on `[z_masked, h]`;
       layers alternate which half is transformed (flowjax `Permute`, a reversal).
       For `n_params = 1` each layer is a coupling with no untransformed part, i.e. a
       spline on the single coordinate whose parameters depend on h only;
    4. optional bounding η = η_max ⊙ tanh(u) (flowjax `Tanh` then `Scale`), or scaling
       η = η_max ⊙ u (`squash=False`, flowjax `Scale`);
    5. optional `angles`: these coordinates live on the circle. The flow's value is
       wrapped to `[-π, π)`, so the density is the wrapped one,
       `p(w) = Σ_k p_u(w + 2πk e_angle)` (`k ∈ {-1, 0, 1}`: the flow's mass beyond `±3π`
       is dropped). A class whose angles sit near `±π` is then one mode, not two, and a
       uniform rotation has no edges. Without `eta_bound` the flow models an angle in
       half-turns (`θ / π`), so the whole circle lies inside the splines' `[-3, 3]`
       (a mode at `±π` in radians would sit on their identity tails);
    6. optional `chart`, a parameter-free flowjax bijection applied last: the flow then
       models the chart's coordinates, and η = chart(...) (e.g.
       [`sgm_eqx.groups.TranslationColumn`][]: the translation column of the map instead
       of its exponential coordinates).

    **Initialisation:** the last layer of every spline conditioner and of the base MLP is
    zero, so every spline is exactly the identity and the base is N(0, I): without
    bounding `log_prob` is exactly the standard-normal log-density at init.

    **Dropout (training):** flowjax's `log_prob` takes no key and stays deterministic.
    For the MLE loss use `log_prob_with_dropout(eta, x_hat, key=key)` (one example;
    dropout in the feature extractor), or `features(x_hat, key=key)` followed by
    `log_prob_given_features(eta, h)` to reuse one feature vector for several η.
    """

    feature_extractor: AbstractImageEncoder
    unbounded: Transformed
    shape: tuple[int] = eqx.field(static=True)
    cond_shape: tuple[int, ...] | None = eqx.field(static=True)
    eta_bound: tuple[float, ...] | None = eqx.field(static=True)
    squash: bool = eqx.field(static=True)
    angles: tuple[int, ...] = eqx.field(static=True)
    chart: AbstractBijection | None

    def __init__(
        self,
        feature_extractor: AbstractImageEncoder,
        unbounded: Transformed,
        *,
        eta_bound: float | tuple[float, ...] | Float[Array, " n_params"] | None = None,
        squash: bool = True,
        angles: tuple[int, ...] = (),
        chart: AbstractBijection | None = None,
    ):
        """Assemble the flow from a feature extractor and a feature-conditioned flow.

        **Arguments:**

        - `feature_extractor`: any [`sgm_eqx.nn.AbstractImageEncoder`][]; its
          `image_shape` becomes `cond_shape`.
        - `unbounded`: a flowjax distribution of u with `shape = (n_params,)` and
          `cond_shape = (feature_extractor.out_size,)` (the features).
        - `eta_bound`: `None`, or η_max (scalar or one per parameter) for η = η_max tanh(u).
        - `squash`: `False` makes it η = η_max u (scaled, not bounded).
        - `angles`: indices of coordinates on the circle (step 5 above; in the chart's
          coordinates when there is a chart).
        - `chart`: `None`, or an unconditional flowjax bijection of shape `(n_params,)`
          applied last (step 6 above). It must have no array leaves: it is structure, not
          a parameter (so checkpoints without it load unchanged).

        Use [`sgm_eqx.nn.make_transformation_flow`][] for the paper's architecture.
        """
        if len(unbounded.shape) != 1:
            raise ValueError(
                f"`TransformationFlow(unbounded=...)`: expected a distribution of shape "
                f"(n_params,); got {unbounded.shape}."
            )
        self.feature_extractor = feature_extractor
        self.unbounded = unbounded
        self.shape = (unbounded.shape[0],)
        self.cond_shape = feature_extractor.image_shape
        self.eta_bound = _check_eta_bound("TransformationFlow", eta_bound, unbounded.shape[0])
        self.squash = bool(squash)
        if chart is not None and (
            chart.shape != self.shape
            or chart.cond_shape is not None
            or jax.tree_util.tree_leaves(eqx.filter(chart, eqx.is_array))
        ):
            raise ValueError(
                "`TransformationFlow(chart=...)`: expected an unconditional bijection of "
                f"shape {self.shape} with no array leaves; got shape {chart.shape}, "
                f"cond_shape {chart.cond_shape}."
            )
        self.chart = chart
        angles = tuple(int(i) for i in angles)
        if len(set(angles)) != len(angles) or not all(0 <= i < self.shape[0] for i in angles):
            raise ValueError(
                f"`TransformationFlow(angles=...)`: expected distinct indices in "
                f"[0, {self.shape[0]}); got {angles}."
            )
        self.angles = angles

    def __check_init__(self):
        if self.unbounded.cond_shape != (self.feature_extractor.out_size,):
            raise ValueError(
                "`TransformationFlow(unbounded=...)`: expected cond_shape "
                f"({self.feature_extractor.out_size},) (the feature size); got "
                f"{self.unbounded.cond_shape}."
            )

    def features(
        self, x_hat: Float[Array, "H W C"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, " n_features"]:
        """The shared features h = E(x̂) of one prototype; `key` turns dropout on."""
        if x_hat.shape != self.cond_shape:
            raise ValueError(
                f"`TransformationFlow.features(x_hat=...)`: expected shape {self.cond_shape}; "
                f"got {x_hat.shape}."
            )
        return paramax.unwrap(self.feature_extractor)(x_hat, key=key)

    def log_prob_given_features(
        self, eta: Float[Array, " n_params"], h: Float[Array, " n_features"]
    ) -> Float[Array, ""]:
        """Log p_ψ(η | x̂) for one η from precomputed features `h = features(x_hat)`."""
        if eta.shape != self.shape:
            raise ValueError(
                "`TransformationFlow.log_prob_given_features(eta=...)`: expected shape "
                f"{self.shape}; got {eta.shape}."
            )
        return paramax.unwrap(self)._log_prob_features(eta, h)

    def log_prob_with_dropout(
        self, eta: Float[Array, " n_params"], x_hat: Float[Array, "H W C"], *, key: PRNGKeyArray
    ) -> Float[Array, ""]:
        """Log p_ψ(η | x̂) for ONE example with dropout in the feature extractor (training).

        Same value as `log_prob(eta, condition=x_hat)` when the dropout rate is 0 and the
        condition's blur has no jitter ([`sgm_eqx.nn.BlurredEncoder`][]).
        """
        return self.log_prob_given_features(eta, self.features(x_hat, key=key))

    def _log_prob_features(self, eta, h):
        log_det = jnp.zeros((), eta.dtype)
        w = eta
        if self.chart is not None:
            w, log_det = self.chart.inverse_and_log_det(eta)
        if not self.angles:
            return self._log_prob_unwrapped(w, h) + log_det
        idx = jnp.asarray(self.angles)
        w = w.at[idx].set(_wrap(w[idx]))
        # the wrapped density: the flow's value at every lift w + 2πk of w (k in -1, 0, 1
        # per angle).
        lifts = jnp.asarray(list(itertools.product((-1.0, 0.0, 1.0), repeat=len(idx))))
        shifts = jnp.zeros((lifts.shape[0], w.shape[0]), w.dtype).at[:, idx].set(2 * jnp.pi * lifts)
        log_probs = jax.vmap(lambda s: self._log_prob_unwrapped(w + s, h))(shifts)
        return jax.nn.logsumexp(log_probs) + log_det

    def _log_prob_unwrapped(self, w, h):
        if self.eta_bound is None:
            if not self.angles:
                return self.unbounded.log_prob(w, h)
            # angles in half-turns: the circle [-π, π) is [-1, 1) for the splines
            u = w.at[jnp.asarray(self.angles)].divide(jnp.pi)
            return self.unbounded.log_prob(u, h) - len(self.angles) * math.log(math.pi)
        u, log_det = _bounding_bijection(self.eta_bound, self.squash).inverse_and_log_det(w)
        log_prob = self.unbounded.log_prob(u, h) + log_det
        # outside (-η_max, η_max) arctanh gives nan/inf: zero density there.
        return jnp.where(jnp.isnan(log_prob), -jnp.inf, log_prob)

    def _sample_features(self, key, h):
        w = self.unbounded.sample(key, condition=h)
        if self.eta_bound is not None:
            w = _bounding_bijection(self.eta_bound, self.squash).transform(w)
        if self.angles:
            idx = jnp.asarray(self.angles)
            if self.eta_bound is None:  # half-turns to radians (`_log_prob_unwrapped`)
                w = w.at[idx].multiply(jnp.pi)
            w = w.at[idx].set(_wrap(w[idx]))
        return w if self.chart is None else self.chart.transform(w)

    def _log_prob(self, x, condition=None):
        assert condition is not None  # flowjax checks cond_shape before calling
        return self._log_prob_features(x, self.feature_extractor(condition))

    def _sample(self, key, condition=None):
        assert condition is not None
        return self._sample_features(key, self.feature_extractor(condition))

    # flowjax's own transformed distributions specialise this hook (no inverse pass).
    def _sample_and_log_prob(self, key, condition=None):
        assert condition is not None
        h = self.feature_extractor(condition)
        if self.angles:  # the density sums over lifts: no shortcut through the sample
            eta = self._sample_features(key, h)
            return eta, self._log_prob_features(eta, h)
        eta, log_prob = self.unbounded.sample_and_log_prob(key, condition=h)
        if self.eta_bound is not None:
            eta, log_det = _bounding_bijection(self.eta_bound, self.squash).transform_and_log_det(
                eta
            )
            log_prob = log_prob - log_det
        if self.chart is not None:
            eta, log_det = self.chart.transform_and_log_det(eta)
            log_prob = log_prob - log_det
        return eta, log_prob


class _BatchFirstMLP(eqx.nn.MLP):
    """flowjax's spline conditioner (`eqx.nn.MLP`) evaluated with the batch-first layout.

    Same fields, parameters and values as `eqx.nn.MLP` (so it is still the `eqx.nn.MLP`
    that flowjax's `Coupling` expects, and checkpoints are unchanged); only the matmuls are
    written as [`sgm_eqx.nn.dense`][] (`x @ W.T + b`). Under the loss's two `vmap`s this
    keeps the batch axes first in every matmul of the coupling layers, which measured ~5%
    of a stage-2 training step on CPU (see the performance page). Supports what the flow
    builds: elementwise (non-learnt) activations and no `scan`.
    """

    def __init__(self, *args, **kwargs):
        # `eqx.nn.MLP.__init__` unchanged; written out so that type checkers do not take
        # the dataclass-generated field signature for it.
        super().__init__(*args, **kwargs)

    def __call__(self, x: Array, *, key: PRNGKeyArray | None = None) -> Array:
        del key
        for layer in self.layers[:-1]:
            x = self.activation(dense(layer, x))
        return self.final_activation(dense(self.layers[-1], x))


@functools.lru_cache(maxsize=64)
def _coupling_template(
    dim: int, cond_dim: int, bins: int, interval: float, nn_width: int
) -> Coupling:
    """The static skeleton of one spline coupling layer, shared by every flow of these sizes.

    flowjax's `Coupling` keeps the spline's initial parameters inside a closure, a static
    field. A fresh closure per construction would make every rebuilt or reloaded model look
    different to `jit` (a recompilation each time) and, when built under a transformation
    (e.g. `eqx.filter_eval_shape` for checkpoint templates), would capture a tracer. So the
    skeleton is built once per sizes, abstractly (its conditioner weights are shapes only;
    the spline's constants are computed eagerly with `ensure_compile_time_eval`), and each
    layer puts its own conditioner into it.
    """

    def build(seed):
        with jax.ensure_compile_time_eval():
            transformer = RationalQuadraticSpline(knots=bins - 1, interval=interval)
            return Coupling(
                jr.key(seed),
                transformer=transformer,
                untransformed_dim=dim // 2,
                dim=dim,
                cond_dim=cond_dim,
                nn_width=nn_width,
                nn_depth=1,
                nn_activation=jax.nn.gelu,
            )

    return eqx.filter_eval_shape(build, jax.ShapeDtypeStruct((), jnp.uint32))


def _spline_layers(
    key: PRNGKeyArray,
    *,
    dim: int,
    cond_dim: int,
    flow_layers: int,
    bins: int,
    interval: float,
    nn_width: int,
) -> AbstractBijection:
    """`flow_layers` zero-initialised RQS coupling layers (+ reversal permutations)."""
    template = _coupling_template(dim, cond_dim, bins, interval, nn_width)
    shape = template.conditioner
    reverse = Permute(jnp.arange(dim)[::-1]) if dim > 1 else None

    def make_layer(k):
        # flowjax's conditioner: Linear -> gelu -> Linear, the last layer zeroed (identity
        # spline at init).
        conditioner = _BatchFirstMLP(
            shape.in_size,
            shape.out_size,
            shape.width_size,
            shape.depth,
            activation=shape.activation,
            final_activation=shape.final_activation,
            key=k,
        )
        conditioner = eqx.tree_at(
            lambda m: (m.layers[-1].weight, m.layers[-1].bias),
            conditioner,
            replace_fn=jnp.zeros_like,
        )
        coupling = eqx.tree_at(lambda c: c.conditioner, template, conditioner)
        if reverse is None:
            return coupling
        return Chain([coupling, reverse])

    # One traced layer scanned over stacked parameters (compiles once, not per layer).
    return Scan(eqx.filter_vmap(make_layer)(jr.split(key, flow_layers)))


def make_transformation_flow(
    key: PRNGKeyArray,
    *,
    image_shape: tuple[int, int, int],
    n_params: int,
    flow_layers: int = 6,
    bins: int = 6,
    interval: float = 3.0,
    feature_hidden: tuple[int, ...] = PAPER_FEATURE_HIDDEN,
    base_hidden: tuple[int, ...] = PAPER_BASE_HIDDEN,
    nn_width: int = 256,
    dropout: float = 0.0,
    eta_bound: float | tuple[float, ...] | Float[Array, " n_params"] | None = None,
    squash: bool = True,
    angles: tuple[int, ...] = (),
    chart: AbstractBijection | None = None,
    condition_blur: float = 0.0,
    condition_blur_jitter: float = 0.0,
) -> TransformationFlow:
    """Build the paper's p_ψ(η | x̂) (App. C "Generative network").

    **Arguments:**

    - `key`: PRNG key.
    - `image_shape`: `(H, W, C)` of the prototypes (the flow's `cond_shape`).
    - `n_params`: dimension of η (any `>= 1`).
    - `flow_layers`: number of spline coupling layers (paper: 4-6, 6 in the final runs).
    - `bins`: spline bins (paper: 6; flowjax's `knots` is `bins - 1` inner knots).
    - `interval`: splines act on `[-interval, interval]` (paper: 3), identity outside.
    - `feature_hidden`: shared feature extractor widths (paper: `(1024, 512, 512)`).
    - `base_hidden`: base-distribution MLP widths (paper: `(256, 256)`).
    - `nn_width`: hidden width of each spline conditioner (paper: 256, one hidden layer).
    - `dropout`: dropout rate in the shared feature extractor (paper: 0.05-0.2); only
      active through `log_prob_with_dropout`/`features(..., key=...)`.
    - `eta_bound`: `None` or η_max (scalar or per parameter): η = η_max tanh(u).
    - `squash`: `False` makes it η = η_max u (scaled, not bounded).
    - `angles`: coordinates on the circle ([`sgm_eqx.nn.TransformationFlow`][]).
    - `chart`: `None` or a parameter-free bijection applied last
      ([`sgm_eqx.nn.TransformationFlow`][], e.g. [`sgm_eqx.groups.TranslationColumn`][]).
    - `condition_blur`: `0` or σ in pixels: the feature extractor sees `x̂` blurred
      ([`sgm_eqx.nn.BlurredEncoder`][]; not in the paper).
    - `condition_blur_jitter`: in `[0, 1]`; in training the blur's σ is drawn from
      `U[σ(1 - j), σ(1 + j)]` ([`sgm_eqx.nn.BlurredEncoder`][] `jitter`). Needs
      `condition_blur > 0`.

    **Returns:** a [`sgm_eqx.nn.TransformationFlow`][], near the identity at init.
    """
    if int(n_params) < 1:
        raise ValueError(
            f"`make_transformation_flow(n_params=...)`: expected >= 1; got {n_params}."
        )
    if int(flow_layers) < 1:
        raise ValueError(
            f"`make_transformation_flow(flow_layers=...)`: expected >= 1; got {flow_layers}."
        )
    if int(bins) < 2:
        raise ValueError(f"`make_transformation_flow(bins=...)`: expected >= 2; got {bins}.")
    if not interval > 0:
        raise ValueError(f"`make_transformation_flow(interval=...)`: expected > 0; got {interval}.")
    if not feature_hidden:
        raise ValueError("`make_transformation_flow(feature_hidden=...)`: expected >= 1 layer.")
    if not condition_blur >= 0:
        raise ValueError(
            f"`make_transformation_flow(condition_blur=...)`: expected >= 0; got {condition_blur}."
        )
    if not 0 <= condition_blur_jitter <= 1 or (condition_blur_jitter and not condition_blur):
        raise ValueError(
            "`make_transformation_flow(condition_blur_jitter=...)`: expected a number in "
            f"[0, 1], and condition_blur > 0 when it is not 0; got {condition_blur_jitter} "
            f"with condition_blur={condition_blur}."
        )
    feat_key, base_key, flow_key = jr.split(key, 3)
    features: AbstractImageEncoder = MLPEncoder(
        image_shape_arg("make_transformation_flow", image_shape),
        feature_hidden,
        dropout=dropout,
        key=feat_key,
    )
    if condition_blur > 0:
        features = BlurredEncoder(features, condition_blur, condition_blur_jitter)
    n = int(n_params)
    base = ConditionalNormal(n, features.out_size, base_hidden, key=base_key)
    bijection = _spline_layers(
        flow_key,
        dim=n,
        cond_dim=features.out_size,
        flow_layers=int(flow_layers),
        bins=int(bins),
        interval=float(interval),
        nn_width=int(nn_width),
    )
    return TransformationFlow(
        features,
        Transformed(base, bijection),
        eta_bound=eta_bound,
        squash=squash,
        angles=angles,
        chart=chart,
    )


class ImageConditioned(AbstractTransformationDensity):
    """Adapter: any flowjax distribution as p(η | x̂).

    Wraps a flowjax distribution `dist` with `cond_shape = (H * W * C,)` (e.g. one built
    by `flowjax.flows.coupling_flow(..., cond_dim=H * W * C)`), flattening the image
    row-major (einops `h w c -> (h w c)`), or one already conditioned on `(H, W, C)` images
    (passed through). The result has `cond_shape = (H, W, C)` and serves as p(η | x̂) in
    [`sgm_eqx.SGM`][], which wraps such a distribution itself. It has no dropout:
    `log_prob_with_dropout` is `log_prob`.
    """

    dist: AbstractDistribution
    shape: tuple[int, ...] = eqx.field(static=True)
    cond_shape: tuple[int, ...] | None = eqx.field(static=True)

    def __init__(self, dist: AbstractDistribution, image_shape: tuple[int, int, int]):
        """Wrap `dist`.

        **Arguments:**

        - `dist`: a flowjax distribution with `cond_shape == (H * W * C,)`.
        - `image_shape`: `(H, W, C)`.
        """
        image_shape = image_shape_arg("ImageConditioned", image_shape)
        if dist.cond_shape not in ((math.prod(image_shape),), image_shape):
            raise ValueError(
                f"`ImageConditioned(dist=...)`: expected cond_shape ({math.prod(image_shape)},) "
                f"or {image_shape} for images of shape {image_shape}; got {dist.cond_shape}."
            )
        self.dist = dist
        self.shape = dist.shape
        self.cond_shape = image_shape

    def _condition(self, image):
        if self.dist.cond_shape == self.cond_shape:
            return image
        return einops.rearrange(image, "h w c -> (h w c)")

    def _log_prob(self, x, condition=None):
        return self.dist.log_prob(x, self._condition(condition))

    def _sample(self, key, condition=None):
        return self.dist.sample(key, condition=self._condition(condition))

    def log_prob_with_dropout(
        self, eta: Float[Array, " n_params"], x_hat: Float[Array, "H W C"], *, key: PRNGKeyArray
    ) -> Float[Array, ""]:
        """`log_prob(eta, condition=x_hat)`: the wrapped distribution has no dropout."""
        return self.log_prob(eta, condition=x_hat)
