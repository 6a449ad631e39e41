import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from sgm_eqx.nn import AbstractImageEncoder


def test_mlp_block_is_dense_gelu_layernorm(getkey):
    from sgm_eqx.nn import MLP

    mlp = MLP(5, (7, 3), key=getkey())
    x = jr.normal(getkey(), (5,))
    h = x
    for lin in mlp.linears:
        assert lin.bias is not None
        h = jax.nn.gelu(lin.weight @ h + lin.bias)
        h = (h - h.mean()) / jnp.sqrt(h.var() + 1e-5)  # LayerNorm at init: weight 1, bias 0
    # float32 round-off of a few ops on O(1) values.
    assert jnp.allclose(eqx.filter_jit(mlp)(x), h, atol=1e-5)
    assert mlp.out_size == 3


def test_mlp_dropout_only_with_key(getkey):
    from sgm_eqx.nn import MLP

    mlp = MLP(4, (64,), dropout=0.5, key=getkey())
    x = jr.normal(getkey(), (4,))
    assert jnp.array_equal(mlp(x), mlp(x))
    y = mlp(x, key=getkey())
    # inverted dropout: kept entries are scaled by 1 / (1 - p), the others are zero.
    dropped = y == 0
    assert 0 < int(dropped.sum()) < 64
    assert jnp.allclose(jnp.where(dropped, 0.0, y), jnp.where(dropped, 0.0, 2 * mlp(x)), atol=1e-6)


def test_mlp_without_dropout_ignores_key(getkey):
    from sgm_eqx.nn import MLP

    mlp = MLP(4, (8,), key=getkey())
    x = jr.normal(getkey(), (4,))
    assert jnp.array_equal(mlp(x), mlp(x, key=getkey()))


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_mlp_rejects_bad_dropout(getkey, bad):
    from sgm_eqx.nn import MLP

    with pytest.raises(ValueError, match="dropout"):
        MLP(4, (8,), dropout=bad, key=getkey())


def test_conv_encoder_shapes_and_strides(getkey):
    from sgm_eqx.nn import ConvEncoder

    enc = ConvEncoder((12, 12, 3), (4, 8, 8), (16,), n_strided=2, key=getkey())
    # 12 -> 6 -> 3 -> 3 spatially; the MLP sees 8 * 3 * 3 inputs.
    assert enc.mlp.in_size == 8 * 3 * 3
    out = eqx.filter_eval_shape(enc, jax.ShapeDtypeStruct((12, 12, 3), jnp.float32))
    assert out.shape == (16,)
    assert enc.out_size == 16


def test_encoders_reject_wrong_image_shape(getkey):
    from sgm_eqx.nn import ConvEncoder, MLPEncoder

    encoders = (MLPEncoder((8, 8, 1), (4,), key=getkey()), ConvEncoder((8, 8, 1), key=getkey()))
    for enc in encoders:
        with pytest.raises(ValueError, match=r"expected an image of shape \(8, 8, 1\)"):
            eqx.filter_eval_shape(enc, jax.ShapeDtypeStruct((8, 8, 2), jnp.float32))


def test_mlp_encoder_flattens_row_major(getkey):
    from sgm_eqx.nn import MLPEncoder

    enc = MLPEncoder((3, 4, 2), (5,), key=getkey())
    x = jr.normal(getkey(), (3, 4, 2))
    assert jnp.array_equal(enc(x), enc.mlp(x.reshape(-1)))


def test_mlp_is_a_pytree_of_arrays_only(getkey):
    from sgm_eqx.nn import MLP

    mlp = MLP(3, (4, 4), key=getkey())
    leaves = jax.tree.leaves(mlp)
    assert all(eqx.is_inexact_array(x) for x in leaves)


def test_mlp_gradients_match_autodiff_of_dense_gelu_layernorm(getkey):
    """The hand-written backward of the fused gelu + LayerNorm equals autodiff of the plain
    composition (batched, generic LayerNorm weights)."""
    from sgm_eqx.nn import MLP

    mlp = MLP(5, (7, 3), key=getkey())

    def perturbed(n: eqx.nn.LayerNorm) -> eqx.nn.LayerNorm:
        assert n.weight is not None and n.bias is not None  # an affine LayerNorm
        new = (1.0 + 0.3 * jr.normal(getkey(), n.weight.shape), jr.normal(getkey(), n.bias.shape))
        return eqx.tree_at(lambda m: (m.weight, m.bias), n, new)

    norms = tuple(perturbed(n) for n in mlp.norms)
    mlp = eqx.tree_at(lambda m: m.norms, mlp, norms)
    xs = 2.0 * jr.normal(getkey(), (6, 5))
    c = jr.normal(getkey(), (6, 3))  # a generic linear read-out of the outputs

    def reference(m, x):
        for lin, norm in zip(m.linears, m.norms, strict=True):
            x = norm(jax.nn.gelu(lin(x)))
        return x

    @eqx.filter_jit
    def grads(m):
        def loss(m, f):
            return jnp.sum(jax.vmap(f, in_axes=(None, 0))(m, xs) * c)

        return (
            eqx.filter_grad(lambda m: loss(m, lambda m, x: m(x)))(m),
            eqx.filter_grad(lambda m: loss(m, reference))(m),
            eqx.filter_grad(lambda x: jnp.sum(jax.vmap(m)(x) * c))(xs),
            eqx.filter_grad(lambda x: jnp.sum(jax.vmap(lambda v: reference(m, v))(x) * c))(xs),
        )

    ours, ref, dx_ours, dx_ref = grads(mlp)
    # Same maths in a different order: float32 round-off on O(1) values.
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref), strict=True):
        assert jnp.allclose(a, b, atol=1e-5, rtol=1e-4)
    assert jnp.allclose(dx_ours, dx_ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_equals_linear_also_under_nested_vmap(getkey, use_bias):
    from sgm_eqx.nn._mlp import dense

    linear = eqx.nn.Linear(6, 4, use_bias=use_bias, key=getkey())
    xs = jr.normal(getkey(), (3, 2, 6))
    expected = jax.vmap(jax.vmap(linear))(xs)
    got = jax.vmap(jax.vmap(lambda x: dense(linear, x)))(xs)
    # the same dot products in another association order: float32 round-off only.
    assert jnp.allclose(got, expected, atol=1e-6)


def test_mlp_under_two_vmaps_puts_batch_axes_first_in_its_matmuls(getkey):
    # The layout property that makes the paper's MLP fast under `batch_loss` (a vmap over
    # examples around a vmap over augmented inputs): every matmul's output has the feature
    # axis last, so gelu + LayerNorm reduce over the contiguous axis.
    from sgm_eqx.nn import MLP

    mlp = MLP(5, (7, 3), key=getkey())
    xs = jr.normal(getkey(), (4, 2, 5))
    jaxpr = jax.make_jaxpr(jax.vmap(jax.vmap(mlp)))(xs).jaxpr
    dots = [e for e in jaxpr.eqns if e.primitive.name == "dot_general"]
    assert [d.outvars[0].aval.shape for d in dots] == [(4, 2, 7), (4, 2, 3)]


def test_blurred_encoder_encodes_the_blurred_image(getkey):
    from sgm_eqx.image import gaussian_blur
    from sgm_eqx.nn import BlurredEncoder, MLPEncoder, make_transformation_flow

    inner = MLPEncoder((8, 8, 1), (16,), key=getkey())
    enc = BlurredEncoder(inner, 1.0)
    x = jr.uniform(getkey(), (8, 8, 1))
    assert enc.out_size == inner.out_size and enc.image_shape == (8, 8, 1)
    assert jnp.allclose(enc(x), inner(gaussian_blur(x, 1.0)), atol=1e-6)
    # a one-pixel shift of a sharp edge changes the blurred encoding less than the raw one
    edge = jnp.zeros((8, 8, 1)).at[:, 4:].set(1.0)
    shifted = jnp.zeros((8, 8, 1)).at[:, 5:].set(1.0)
    blurred = gaussian_blur(edge, 1.0) - gaussian_blur(shifted, 1.0)
    assert float(jnp.sum(blurred**2)) < float(jnp.sum((edge - shifted) ** 2))
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match=r"BlurredEncoder\(sigma=...\)"):
            BlurredEncoder(inner, bad)

    with pytest.raises(ValueError, match=r"BlurredEncoder\(jitter=...\)"):
        BlurredEncoder(inner, 1.0, 1.5)

    # the flow's option wraps its feature extractor; 0 leaves it (and checkpoints) as before
    def build(condition_blur):
        return make_transformation_flow(
            jr.key(0), image_shape=(8, 8, 1), n_params=2, flow_layers=1, feature_hidden=(8,),
            base_hidden=(4,), nn_width=4, condition_blur=condition_blur,
        )  # fmt: skip

    plain, blur = build(0.0), build(0.7)
    assert isinstance(blur.feature_extractor, BlurredEncoder)
    assert not isinstance(plain.feature_extractor, BlurredEncoder)
    leaves = jax.tree.leaves(eqx.filter(plain, eqx.is_array))
    assert len(leaves) == len(jax.tree.leaves(eqx.filter(blur, eqx.is_array)))


class _Pixels(AbstractImageEncoder):
    """The image itself, flattened: an encoder that lets a test see what was encoded."""

    image_shape: tuple[int, int, int]

    @property
    def out_size(self) -> int:
        return int(np.prod(self.image_shape))

    def __call__(self, x, *, key=None):
        return x.reshape(-1)


def test_blur_jitter_varies_the_blur_in_training_only():
    """With a key, σ spans U[σ(1 - j), σ(1 + j)]: the energy of a blurred point, which falls
    with σ, spans the energies at the two ends; without a key it is that of σ."""
    from sgm_eqx.image import gaussian_blur
    from sgm_eqx.nn import BlurredEncoder

    x = jnp.zeros((15, 15, 1)).at[7, 7, 0].set(1.0)
    enc = BlurredEncoder(_Pixels((15, 15, 1)), 1.0, 0.5)
    energy = lambda v: float(jnp.sum(v**2))  # noqa: E731
    ends = [energy(gaussian_blur(x, s, size=11)) for s in (1.5, 0.5)]
    assert jnp.allclose(enc(x), gaussian_blur(x, 1.0).reshape(-1), atol=1e-6)
    draws = [energy(enc(x, key=k)) for k in jr.split(jr.key(0), 64)]
    assert ends[0] - 1e-6 <= min(draws) and max(draws) <= ends[1] + 1e-6
    # 64 uniform draws cover most of the range (each end's last tenth is missed w.p. 1e-3)
    lo, hi = (energy(gaussian_blur(x, s, size=11)) for s in (1.4, 0.6))
    assert min(draws) < lo and max(draws) > hi
    # no jitter: the key only drives the encoder's dropout
    fixed = BlurredEncoder(_Pixels((15, 15, 1)), 1.0)
    assert jnp.allclose(fixed(x, key=jr.key(1)), fixed(x), atol=1e-6)
