"""Examples/s of the jitted stage-1 and stage-2 training steps (paper's MNIST architecture).

Measures, in one run and side by side, the library's steps (`sgm_eqx.train.stage_step`)
and a straightforward reference ("naive": the network runs on `x` once per sample, inverses
by `jnp.linalg.inv`, the flow through its generic `log_prob`), plus the best fp32 matmul of
this machine as the ceiling. The machine may be shared: compare variants within one run.

Necessary FLOPs per example (MACs counted from the weight matrices, 2 FLOP per MAC):

- stage 1 (SSL + invertibility): the inference net runs forward and backward (3x) on x and
  on each of the n augmented inputs: 3 * (1 + n) * F_inf;
- stage 2 (MLE): the frozen inference net forward on x and the n augmented inputs
  ((1 + n) * F_inf) plus the flow forward and backward on each of the n prototypes
  (3 * n * F_flow, every weight matrix of the flow used once per log_prob).

Usage: `python benchmarks/train_step.py --batch-size 512 --steps 5 --breakdown --json out.json`
(`--variants library` skips the reference; `--order 3,1`, the default, measures the presets'
bicubic warps and bilinear beside them; the first order is the headline).

At the largest batch size, for each order and stage, the run also reports:

- `matmul_floor_ms`: the step's matmuls alone (every weight matrix times its activations,
  forward and, where a gradient is needed, backward), all in one jitted call: the floor a
  step cannot beat on this machine; `floor_ratio` = step time / floor;
- `warp_ms`: the step's warps alone (stage 1: `n` augmentations forward, `n` composed warps
  and the invertibility term's two warps with gradients; stage 2: `n` augmentations and `n`
  prototypes, forward only);
- `torch_ssl_examples_per_s`: the same stage-1 step in PyTorch with bicubic `grid_sample`
  (`_torch_ssl.py`; skipped when torch is not importable), and each order-3 stage-1 row's
  ratio to it.

`--breakdown` also times the stage-1 network (forward + backward on the (1 + n) * B inputs),
its matmuls chained as in the network, and the same network with equinox's weight-first
`Linear` layout side by side (see `sgm_eqx.nn.dense`). Step times are medians of
individually timed steps.

Output format (numbers depend on the machine and its load; compare rows of one run):

    device cpu:cpu; peak fp32 matmul ... GFLOP/s
    necessary MFLOP/example: stage 1 156.9, stage 2 132.3 (inference fwd 8.72, flow fwd 5.33)
    order 3 batch  512 library  | stage 1 ... ex/s (..% of peak, compile ..s) | stage 2 ...
    ...
    batch 512, cpu:cpu; PyTorch bicubic stage 1: ... ex/s
    order  stage  ex/s      step ms  floor ms  step/floor  warps ms (share)  vs PyTorch
        3      1     ...
"""

import argparse
import time

import einops
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from _report import write_json
from _torch_ssl import torch_ssl_examples_per_s

from sgm_eqx.losses import UniformAugmentation, batch_loss, composed_loop
from sgm_eqx.losses._model_api import flow_log_prob, q_loc_scale, stop_gradient_tree
from sgm_eqx.nn import MLPEncoder, dense, gelu_layer_norm
from sgm_eqx.train import (
    FlowStageConfig,
    InferenceStageConfig,
    ModelConfig,
    build_model,
    init_state,
    make_optimizer,
    stage_step,
    trainable_filter,
)


def _macs(tree) -> int:
    """MACs of one forward pass: the sizes of all weight matrices (ndim >= 2)."""
    leaves = jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_inexact_array))
    return int(sum(leaf.size for leaf in leaves if leaf.ndim >= 2))


def peak_matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Best fp32 GFLOP/s of an `n x n @ n x n` matmul (the machine's ceiling)."""
    a = jr.normal(jr.key(0), (n, n), jnp.float32)
    b = jr.normal(jr.key(1), (n, n), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    f(a, b).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(a, b).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


# ----------------------------------------------------------------------------------------
# The "naive" reference losses (what a straightforward port does).
# ----------------------------------------------------------------------------------------


def _naive_ssl(model, x, key, *, augmentation, n_samples, invertibility_weight):
    from sgm_eqx.groups import Affine2D

    net, template = model.inference_net, model.template

    def one(k):
        k_aug, k1, k2 = jr.split(k, 3)
        eta_rnd = augmentation(k_aug)
        x_rnd = template.with_params(eta_rnd).apply(x)
        eta_x = net(x, key=k1)  # the network sees x once per sample
        eta_v = net(x_rnd, key=k2)
        m = template.with_params(eta_x).matrix @ jnp.linalg.inv(template.with_params(eta_v).matrix)
        g = Affine2D(m, order=template.order)
        ssl = jnp.mean(jnp.square(g.apply(x_rnd) - x))
        ge = template.with_params(eta_x)
        back = Affine2D(jnp.linalg.inv(ge.matrix), order=template.order).apply(ge.apply(x))
        return ssl + invertibility_weight * jnp.mean(jnp.square(back - x))

    return jnp.mean(jax.vmap(one)(jr.split(key, n_samples))), {}


def _naive_mle(model, x, key, *, augmentation, n_samples):
    from sgm_eqx.groups import Affine2D

    net, template = stop_gradient_tree(model.inference_net), model.template

    def one(k):
        k_aug, k1, k2 = jr.split(k, 3)
        x_rnd = template.with_params(augmentation(k_aug)).apply(x)
        eta_x = net(x, key=k1)
        eta_v = net(x_rnd)
        x_hat = Affine2D(jnp.linalg.inv(template.with_params(eta_v).matrix), order=template.order)
        x_hat = x_hat.apply(x_rnd)
        return -flow_log_prob(model.flow, eta_x, x_hat, k2)

    return jnp.mean(jax.vmap(one)(jr.split(key, n_samples))), {}


def _naive_step(stage, config, loss_fn):
    optimizer = make_optimizer(config)

    @eqx.filter_jit(donate="all-except-first")
    def step(xs, state):
        spec = trainable_filter(state.model, stage)
        diff, static = eqx.partition(state.model, spec)
        key = jr.fold_in(state.key, state.step)

        def objective(d):
            return batch_loss(loss_fn, eqx.combine(d, static), xs, key)

        (loss, _), grads = eqx.filter_value_and_grad(objective, has_aux=True)(diff)
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimizer.update(grads, state.opt_state, diff)
        model = eqx.combine(eqx.apply_updates(diff, updates), static)
        return eqx.tree_at(
            lambda s: (s.model, s.opt_state, s.step),
            state,
            (model, opt_state, state.step + 1),
        ), {"loss": loss}

    return step


# ----------------------------------------------------------------------------------------


def _best_time(f, *args, repeats: int) -> float:
    jax.block_until_ready(f(*args))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def _weight_shapes(tree) -> list[tuple[int, int, int]]:
    """`(count, out, in)` of every weight matrix (a leading axis counts stacked layers)."""
    leaves = jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_inexact_array))
    return [
        (int(np.prod(leaf.shape[:-2], dtype=int)), leaf.shape[-2], leaf.shape[-1])
        for leaf in leaves
        if leaf.ndim >= 2
    ]


def matmul_floor_s(parts: list[tuple[object, int, bool, bool]], repeats: int) -> float:
    """Seconds of a step's matmuls alone: the floor a step cannot beat on this machine.

    `parts` lists `(network, rows, backward, input_is_data)`: every weight matrix `(out, in)`
    of `network` is multiplied once forward by a `(rows, in)` activation and, with
    `backward`, twice more (the weight gradient, and the input gradient unless the layer's
    input is the data, i.e. the first layer of a network whose input is data). All
    products are computed in one jitted call, so the time is what XLA's best matmuls need.
    """
    operands = []
    key = jr.key(7)
    for net, rows, backward, input_is_data in parts:
        for i, (count, n_out, n_in) in enumerate(_weight_shapes(net)):
            for _ in range(count):
                key, k1, k2, k3 = jr.split(key, 4)
                w = jr.normal(k1, (n_out, n_in), jnp.float32)
                a = jr.normal(k2, (rows, n_in), jnp.float32)
                g = jr.normal(k3, (rows, n_out), jnp.float32)
                operands.append((w, a, g, backward, backward and not (input_is_data and i == 0)))
    arrays = [(w, a, g) for w, a, g, _, _ in operands]
    flags = [(bw, dx) for _, _, _, bw, dx in operands]

    @jax.jit
    def matmuls(arrays):
        out = []
        for (w, a, g), (bw, dx) in zip(arrays, flags, strict=True):
            out.append(a @ w.T)
            if bw:
                out.append(g.T @ a)
            if dx:
                out.append(g @ w)
        return out

    return _best_time(matmuls, arrays, repeats=repeats)


def stage2_warps_s(model, data, batch_size: int, n_samples: int, repeats: int) -> float:
    """Seconds of a stage-2 step's warps alone (forward only: no gradient reaches them).

    `n` augmentations `x_rnd = T_{η_rnd}(x)` (the inference net's inputs) and `n` prototypes
    `(T_{η_v}^{-1} ∘ T_{η_rnd})(x)`, each one resampling of `x`.
    """
    template, n = model.template, n_samples
    aug = UniformAugmentation.symmetric((0.25, 0.25, float(np.pi), 0.25, 0.25))
    etas = jax.vmap(lambda k: jax.vmap(aug)(jr.split(k, 2 * n)))(jr.split(jr.key(8), batch_size))

    @jax.jit
    def warps(xs, etas):
        def one(x, e):
            def both(e_rnd, e_v):
                g = template.with_params(e_rnd)
                proto = template.with_params(0.1 * e_v).inverse().compose(g).apply(x)
                return g.apply(x), proto

            return jax.vmap(both)(e[:n], e[n:])

        return jax.vmap(one)(xs, etas)

    return _best_time(warps, data[:batch_size], etas, repeats=repeats)


def stage1_breakdown(
    model, data, batch_size: int, n_samples: int, repeats: int, *, warps_only: bool = False
) -> dict:
    """Seconds of the two big parts of a stage-1 step, each timed on its own.

    - `network`: the inference net forward + backward on the `(1 + n) * batch` inputs of a
      step (x and each augmented input once);
    - `warps`: the step's warps alone: `n` augmentations (forward), `n` composed warps and
      the 2 warps of the invertibility term (forward + backward w.r.t. the parameters).
    - `network_matmuls` (MLP inference nets): the same network's matmuls alone (the
      blocks without gelu, LayerNorm or dropout), forward + backward on the same inputs:
      the floor that the step's matmuls set, whatever else is made faster.
    """
    net, template = model.inference_net, model.template
    rows = jnp.arange(batch_size * (1 + n_samples)) % data.shape[0]
    xs = data[rows].reshape(batch_size, 1 + n_samples, *data.shape[1:])
    drop_keys = jr.split(jr.key(4), (batch_size, 1 + n_samples))
    # A random cotangent for loc, as the SSL loss gives one. (An earlier `sum(loc ** 2)`
    # version measured faster than the matmul ceiling allows: not representative.)
    weights = jr.normal(jr.key(6), (batch_size, 1 + n_samples, template.n_params))

    @eqx.filter_jit
    def network(net, xs, drop_keys, weights):
        # The same nested vmap, dropout keys and q_ω(η | x) head as in `inference_loss`.
        def f(net):
            loc, scale = jax.vmap(jax.vmap(lambda x, k: q_loc_scale(net, x, k)))(xs, drop_keys)
            return jnp.sum(loc * weights) + jnp.sum(scale)

        return eqx.filter_grad(f)(net)

    def weight_first_loc(net, x):
        # The same blocks with equinox's `Linear.__call__` (`weight @ x`) instead of
        # `sgm_eqx.nn`'s batch-first `x @ weight.T`: the layout the library used before.
        h = einops.rearrange(x, "h w c -> (h w c)")
        for linear, norm in zip(net.encoder.mlp.linears, net.encoder.mlp.norms, strict=True):
            h = gelu_layer_norm(linear(h), norm.weight, norm.bias, norm.eps)
        return net.head(h)

    @eqx.filter_jit
    def network_matmuls(net, xs, weights):
        def f(net):
            def one(x):
                h = einops.rearrange(x, "h w c -> (h w c)")
                for linear in net.encoder.mlp.linears:
                    h = dense(linear, h)
                return dense(net.head, h)

            return jnp.sum(jax.vmap(jax.vmap(one))(xs) * weights)

        return eqx.filter_grad(f)(net)

    @eqx.filter_jit
    def network_weight_first(net, xs, weights):
        def f(net):
            loc = jax.vmap(jax.vmap(lambda x: weight_first_loc(net, x)))(xs)
            return jnp.sum(loc * weights)

        return eqx.filter_grad(f)(net)

    aug = UniformAugmentation.symmetric((0.25, 0.25, float(np.pi), 0.25, 0.25))
    n = n_samples
    etas = jax.vmap(lambda k: jax.vmap(aug)(jr.split(k, 3 * n)))(jr.split(jr.key(5), batch_size))

    @jax.jit
    def warps(xs, etas):
        # As `inference_loss` does: the n augmentations (forward: they feed the network),
        # the n composed loops `T_{η_x} ∘ T_{η_v}^{-1} ∘ T_{η_rnd}` applied once to x, and
        # the invertibility term's warp there and back, with gradients w.r.t. η_x and η_v.
        def one(x, e):
            x_rnd = jax.vmap(lambda ei: template.with_params(ei).apply(x))(e[:n])

            def loss(eta_x, eta_v):
                loops = jax.vmap(lambda a, b, r: composed_loop(template, a, b, r))(
                    eta_x, eta_v, e[:n]
                )
                warped = jax.vmap(lambda g: g.apply(x))(loops)
                g = template.with_params(eta_x[0])
                back = g.inverse().apply(g.apply(x))
                return jnp.mean((warped - x[None]) ** 2) + 0.1 * jnp.mean((back - x) ** 2)

            return x_rnd, jax.grad(loss, argnums=(0, 1))(0.1 * e[n : 2 * n], 0.1 * e[2 * n :])

        return jax.vmap(one)(xs, etas)

    if warps_only:
        return {"warps_s": _best_time(warps, data[:batch_size], etas, repeats=repeats)}
    out = {
        "network_s": _best_time(network, net, xs, drop_keys, weights, repeats=repeats),
        "warps_s": _best_time(warps, data[:batch_size], etas, repeats=repeats),
    }
    if isinstance(net.encoder, MLPEncoder):
        out["network_weight_first_s"] = _best_time(
            network_weight_first, net, xs, weights, repeats=repeats
        )
        out["network_matmuls_s"] = _best_time(network_matmuls, net, xs, weights, repeats=repeats)
    return out


def _time_step(step, data, state, steps):
    """(median seconds per step over `steps` individually timed steps, compile seconds).

    The median, not the mean: on a shared machine a neighbour's burst can slow a few steps
    by half, and one such step would move a mean of five by 10%.
    """
    t0 = time.perf_counter()
    state, metrics = step(data, state)
    jax.block_until_ready((state, metrics))
    first = time.perf_counter() - t0
    state, metrics = step(data, state)  # one more warm call
    jax.block_until_ready((state, metrics))
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        state, metrics = step(data, state)
        jax.block_until_ready((state, metrics))
        times.append(time.perf_counter() - t0)
    per_step = float(np.median(times))
    return per_step, max(first - per_step, 0.0)


def _library_step(stage, config):
    def run(data, state):
        return stage_step(data, state, stage, config)

    return run


def _naive_library_compatible(stage, config):
    aug = UniformAugmentation.symmetric(config.augment_bounds)
    if stage == "inference":
        fn = _naive_ssl
        kw = dict(augmentation=aug, n_samples=config.n_samples, invertibility_weight=0.1)
    else:
        fn = _naive_mle
        kw = dict(augmentation=aug, n_samples=config.n_samples)
    inner = _naive_step(stage, config, eqx.Partial(fn, **kw))
    b = config.batch_size

    def run(data, state):
        return inner(data[:b], state)

    return run


def _orders(text: str) -> list[int]:
    orders = [int(o) for o in text.split(",") if o]
    if not orders or any(o not in (0, 1, 3) for o in orders):
        raise SystemExit(f"--order: expected a comma list of 0, 1, 3; got {text!r}")
    return orders


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--batch-size",
        action="append",
        default=None,
        help="batch size(s), repeatable or comma-separated (default 64,128,512)",
    )
    parser.add_argument(
        "--steps", type=int, default=5, help="timed steps per measurement (median reported)"
    )
    parser.add_argument("--n-samples", type=int, default=5)
    parser.add_argument(
        "--order",
        default="3,1",
        help="interpolation order(s) of the warps, comma list; the first is the headline "
        "(default 3,1: the presets' bicubic, and bilinear beside it)",
    )
    parser.add_argument("--variants", default="library,naive", help="comma list of: library, naive")
    parser.add_argument(
        "--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time the stage-1 network and warps alone at the largest batch size",
    )
    args = parser.parse_args(argv)
    sizes = args.batch_size or ["64,128,512"]
    batch_sizes = sorted({int(s) for part in sizes for s in str(part).split(",") if s})
    variants = [v for v in args.variants.split(",") if v]
    orders = _orders(args.order)

    device = jax.devices()[0]
    device_name = f"{device.platform}:{device.device_kind}"
    peak = peak_matmul_gflops()
    # The same weights at every order (the order only changes the warps' interpolation).
    models = {
        order: build_model(
            jr.key(0),
            ModelConfig(image_shape=(28, 28, 1), action="affine", interpolation_order=order),
        )
        for order in orders
    }
    model = models[orders[0]]
    f_inf = 2 * _macs(model.inference_net)
    f_flow = 2 * _macs(model.flow)
    n = args.n_samples
    flops1 = 3 * (1 + n) * f_inf
    flops2 = (1 + n) * f_inf + 3 * n * f_flow
    print(f"device {device_name}; peak fp32 matmul {peak:.1f} GFLOP/s")
    print(
        f"necessary MFLOP/example: stage 1 {flops1 / 1e6:.1f}, stage 2 {flops2 / 1e6:.1f} "
        f"(inference fwd {f_inf / 1e6:.2f}, flow fwd {f_flow / 1e6:.2f})"
    )
    rows = []
    for order in orders:
        model_o = models[order]
        for b in batch_sizes:
            data = jr.uniform(jr.key(1), (max(4 * b, 2048), 28, 28, 1), jnp.float32)
            for variant in variants:
                row = {"order": order, "batch_size": b, "variant": variant}
                for stage, flops in (("inference", flops1), ("flow", flops2)):
                    cls = InferenceStageConfig if stage == "inference" else FlowStageConfig
                    cfg = cls(
                        batch_size=b,
                        n_samples=n,
                        steps=10_000,
                        augment_bounds=(0.25, 0.25, float(np.pi), 0.25, 0.25),
                        **(
                            {"symmetric": False, "invertibility_weight": 0.1}
                            if stage == "inference"
                            else {}
                        ),
                    )
                    make = _library_step if variant == "library" else _naive_library_compatible
                    step = make(stage, cfg)
                    state = init_state(jr.key(2), model_o, stage, cfg)
                    state = jax.tree_util.tree_map(
                        lambda a: a.copy() if eqx.is_array(a) else a, state
                    )
                    per_step, compile_s = _time_step(step, data, state, args.steps)
                    ex_s = b / per_step
                    prefix = "ssl" if stage == "inference" else "mle"
                    row[f"{prefix}_examples_per_s"] = ex_s
                    row[f"{prefix}_compile_s"] = compile_s
                    row[f"{prefix}_gflops"] = ex_s * flops / 1e9
                    row[f"{prefix}_fraction_of_peak"] = ex_s * flops / 1e9 / peak
                rows.append(row)
                print(
                    f"order {order} batch {b:4d} {variant:8s} | stage 1 "
                    f"{row['ssl_examples_per_s']:8.1f} ex/s "
                    f"({100 * row['ssl_fraction_of_peak']:5.1f}% of peak, compile "
                    f"{row['ssl_compile_s']:.1f}s) | stage 2 {row['mle_examples_per_s']:8.1f} ex/s "
                    f"({100 * row['mle_fraction_of_peak']:5.1f}%, compile "
                    f"{row['mle_compile_s']:.1f}s)",
                    flush=True,
                )
    b = max(batch_sizes)
    repeats = max(args.steps, 2)
    data = jr.uniform(jr.key(1), (max(4 * b, 2048), 28, 28, 1), jnp.float32)
    net = model.inference_net
    floors = {
        "ssl": matmul_floor_s([(net, (1 + n) * b, True, True)], repeats),
        "mle": matmul_floor_s(
            [(net, (1 + n) * b, False, True), (model.flow, n * b, True, False)], repeats
        ),
    }
    torch_ex_s = torch_ssl_examples_per_s(
        b, n, (0.25, 0.25, float(np.pi), 0.25, 0.25), args.steps, args.torch_threads
    )
    stages: dict = {}
    for order in orders:
        model_o = models[order]
        main_row = next(
            r
            for r in rows
            if r["order"] == order and r["batch_size"] == b and r["variant"] == variants[0]
        )
        warps = {
            "ssl": stage1_breakdown(model_o, data, b, n, repeats, warps_only=True)["warps_s"],
            "mle": stage2_warps_s(model_o, data, b, n, repeats),
        }
        stages[str(order)] = {}
        for prefix in ("ssl", "mle"):
            ex_s = main_row[f"{prefix}_examples_per_s"]
            step_s = b / ex_s
            entry = {
                "examples_per_s": ex_s,
                "step_ms": 1e3 * step_s,
                "matmul_floor_ms": 1e3 * floors[prefix],
                "floor_ratio": step_s / floors[prefix],
                "warp_ms": 1e3 * warps[prefix],
                "warp_fraction": warps[prefix] / step_s,
                "compile_s": main_row[f"{prefix}_compile_s"],
            }
            if prefix == "ssl" and torch_ex_s is not None:
                entry["torch_ratio"] = ex_s / torch_ex_s
            stages[str(order)][prefix] = entry
    headline = next(
        r
        for r in rows
        if r["order"] == orders[0] and r["batch_size"] == b and r["variant"] == variants[0]
    )
    result = {
        "device": device_name,
        "peak_matmul_gflops": peak,
        "n_samples": n,
        "interpolation_order": orders[0],
        "orders": orders,
        "necessary_mflop_per_example": {"stage1": flops1 / 1e6, "stage2": flops2 / 1e6},
        "batch_size": b,
        "ssl_examples_per_s": headline["ssl_examples_per_s"],
        "mle_examples_per_s": headline["mle_examples_per_s"],
        "torch_ssl_examples_per_s": torch_ex_s,
        "stages": stages,
        "compile_s": {"stage1": headline["ssl_compile_s"], "stage2": headline["mle_compile_s"]},
        "achieved_gflops": {"stage1": headline["ssl_gflops"], "stage2": headline["mle_gflops"]},
        "fraction_of_peak": {
            "stage1": headline["ssl_fraction_of_peak"],
            "stage2": headline["mle_fraction_of_peak"],
        },
        "rows": rows,
    }
    if args.breakdown:
        parts = stage1_breakdown(model, data, b, n, repeats)
        step_s = b / headline["ssl_examples_per_s"]
        result["stage1_breakdown"] = {
            "order": orders[0],
            "step_s": step_s,
            **parts,
            "network_fraction": parts["network_s"] / step_s,
            "warps_fraction": parts["warps_s"] / step_s,
        }
        print(
            f"stage 1 at batch {b}, order {orders[0]}: step {1e3 * step_s:.1f} ms; network "
            f"alone {1e3 * parts['network_s']:.1f} ms ({100 * parts['network_s'] / step_s:.0f}%), "
            f"warps alone {1e3 * parts['warps_s']:.1f} ms ({100 * parts['warps_s'] / step_s:.0f}%)"
        )
        if "network_matmuls_s" in parts:
            # The fraction of peak the step would reach if everything but the network's
            # matmuls took no time at all: an upper bound for this network on this machine.
            bound = b * flops1 / parts["network_matmuls_s"] / 1e9 / peak
            result["stage1_breakdown"]["matmul_bound_fraction"] = bound
            print(
                f"the network's matmuls alone: {1e3 * parts['network_matmuls_s']:.1f} ms; a step "
                f"with nothing else would reach {100 * bound:.1f}% of peak"
            )
        if "network_weight_first_s" in parts:
            print(
                f"network with equinox's weight-first Linear layout: "
                f"{1e3 * parts['network_weight_first_s']:.1f} ms"
            )
    torch_text = "n/a" if torch_ex_s is None else f"{torch_ex_s:.1f} ex/s"
    print(f"\nbatch {b}, {device_name}; PyTorch bicubic stage 1: {torch_text}")
    print("order  stage  ex/s      step ms  floor ms  step/floor  warps ms (share)  vs PyTorch")
    for order in orders:
        for prefix, stage in (("ssl", 1), ("mle", 2)):
            e = stages[str(order)][prefix]
            vs = f"{e['torch_ratio']:.2f}x" if "torch_ratio" in e and order == 3 else "-"
            print(
                f"{order:5d}  {stage:5d}  {e['examples_per_s']:8.1f}  {e['step_ms']:7.1f}  "
                f"{e['matmul_floor_ms']:8.1f}  {e['floor_ratio']:10.2f}  "
                f"{e['warp_ms']:8.1f} ({100 * e['warp_fraction']:4.1f}%)  {vs}"
            )
    write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()
