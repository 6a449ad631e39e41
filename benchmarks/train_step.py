"""Examples/s of the jitted stage-1 and stage-2 training steps (paper's MNIST architecture).

Measures, in one run and side by side, the library's steps (`sgm_eqx.train.make_train_step`)
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
(`--variants library` skips the reference; `--order 3` for the paper's bicubic warps).
`--breakdown` also times the stage-1 network (forward + backward on the (1 + n) * B inputs)
and the stage-1 warps each alone, to show where a step's time goes; the network's matmuls
alone (the bound they set: the fraction of peak a step that did nothing else would reach);
and the same network with equinox's weight-first `Linear` layout side by side (see
`sgm_eqx.nn.dense`). Step times are medians of individually timed steps.

Output format (numbers depend on the machine and its load; compare rows of one run):

    device cpu:cpu; peak fp32 matmul ... GFLOP/s
    necessary MFLOP/example: stage 1 156.9, stage 2 132.3 (inference fwd 8.72, flow fwd 5.33)
    batch  512 library  | stage 1 ... ex/s (..% of peak, compile ..s) | stage 2 ... ex/s (..%)
    batch  512 naive    | stage 1 ... ex/s (..% of peak, compile ..s) | stage 2 ... ex/s (..%)
    stage 1 at batch 512: step ... ms; network alone ... ms (..%), warps alone ... ms (..%)
    the network's matmuls alone: ... ms; a step with nothing else would reach ..% of peak
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

from sgm_eqx.losses import UniformAugmentation, batch_loss
from sgm_eqx.losses._model_api import flow_log_prob, q_loc_scale, stop_gradient_tree
from sgm_eqx.nn import MLPEncoder, dense, gelu_layer_norm
from sgm_eqx.train import (
    FlowStageConfig,
    InferenceStageConfig,
    ModelConfig,
    build_model,
    init_state,
    make_optimizer,
    make_train_step,
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


def _naive_step(stage, config, loss_fn, kwargs):
    optimizer = make_optimizer(config)

    @eqx.filter_jit(donate="all-except-first")
    def step(xs, state):
        spec = trainable_filter(state.model, stage)
        diff, static = eqx.partition(state.model, spec)
        key = jr.fold_in(state.key, state.step)

        def objective(d):
            return batch_loss(loss_fn, eqx.combine(d, static), xs, key, **kwargs)

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


def stage1_breakdown(model, data, batch_size: int, n_samples: int, repeats: int) -> dict:
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
        def one(x, e):
            x_rnd = jax.vmap(lambda ei: template.with_params(ei).apply(x))(e[:n])

            def loss(eta_x, eta_v):
                composed = jax.vmap(
                    lambda a, b, xr: (
                        template.with_params(a).compose(template.with_params(b).inverse()).apply(xr)
                    )
                )(eta_x, eta_v, x_rnd)
                g = template.with_params(eta_x[0])
                back = g.inverse().apply(g.apply(x))
                return jnp.mean((composed - x[None]) ** 2) + 0.1 * jnp.mean((back - x) ** 2)

            return jax.grad(loss, argnums=(0, 1))(0.1 * e[n : 2 * n], 0.1 * e[2 * n :])

        return jax.vmap(one)(xs, etas)

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
    step = make_train_step(stage, config)

    def run(data, state):
        return step(data, state)

    return run


def _naive_library_compatible(stage, config):
    aug = UniformAugmentation.symmetric(config.augment_bounds)
    if stage == "inference":
        fn = _naive_ssl
        kw = dict(augmentation=aug, n_samples=config.n_samples, invertibility_weight=0.1)
    else:
        fn = _naive_mle
        kw = dict(augmentation=aug, n_samples=config.n_samples)
    inner = _naive_step(stage, config, fn, kw)
    b = config.batch_size

    def run(data, state):
        return inner(data[:b], state)

    return run


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
    parser.add_argument("--order", type=int, default=1, help="interpolation order of warps")
    parser.add_argument("--variants", default="library,naive", help="comma list of: library, naive")
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

    device = jax.devices()[0]
    device_name = f"{device.platform}:{device.device_kind}"
    peak = peak_matmul_gflops()
    model_cfg = ModelConfig(
        image_shape=(28, 28, 1), action="affine", interpolation_order=args.order
    )
    model = build_model(jr.key(0), model_cfg)
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
    for b in batch_sizes:
        data = jr.uniform(jr.key(1), (max(4 * b, 2048), 28, 28, 1), jnp.float32)
        for variant in variants:
            row = {"batch_size": b, "variant": variant}
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
                state = init_state(jr.key(2), model, stage, cfg)
                state = jax.tree_util.tree_map(lambda a: a.copy() if eqx.is_array(a) else a, state)
                per_step, compile_s = _time_step(step, data, state, args.steps)
                ex_s = b / per_step
                prefix = "ssl" if stage == "inference" else "mle"
                row[f"{prefix}_examples_per_s"] = ex_s
                row[f"{prefix}_compile_s"] = compile_s
                row[f"{prefix}_gflops"] = ex_s * flops / 1e9
                row[f"{prefix}_fraction_of_peak"] = ex_s * flops / 1e9 / peak
            rows.append(row)
            print(
                f"batch {b:4d} {variant:8s} | stage 1 {row['ssl_examples_per_s']:8.1f} ex/s "
                f"({100 * row['ssl_fraction_of_peak']:5.1f}% of peak, compile "
                f"{row['ssl_compile_s']:.1f}s) | stage 2 {row['mle_examples_per_s']:8.1f} ex/s "
                f"({100 * row['mle_fraction_of_peak']:5.1f}%, compile {row['mle_compile_s']:.1f}s)",
                flush=True,
            )
    main_rows = [r for r in rows if r["variant"] == variants[0]]
    best = max(main_rows, key=lambda r: r["batch_size"])
    result = {
        "device": device_name,
        "peak_matmul_gflops": peak,
        "n_samples": n,
        "interpolation_order": args.order,
        "necessary_mflop_per_example": {"stage1": flops1 / 1e6, "stage2": flops2 / 1e6},
        "batch_size": best["batch_size"],
        "ssl_examples_per_s": best["ssl_examples_per_s"],
        "mle_examples_per_s": best["mle_examples_per_s"],
        "compile_s": {"stage1": best["ssl_compile_s"], "stage2": best["mle_compile_s"]},
        "achieved_gflops": {"stage1": best["ssl_gflops"], "stage2": best["mle_gflops"]},
        "fraction_of_peak": {
            "stage1": best["ssl_fraction_of_peak"],
            "stage2": best["mle_fraction_of_peak"],
        },
        "rows": rows,
    }
    if args.breakdown:
        b = best["batch_size"]
        data = jr.uniform(jr.key(1), (max(4 * b, 2048), 28, 28, 1), jnp.float32)
        parts = stage1_breakdown(model, data, b, n, max(args.steps, 2))
        step_s = b / best["ssl_examples_per_s"]
        result["stage1_breakdown"] = {
            "step_s": step_s,
            **parts,
            "network_fraction": parts["network_s"] / step_s,
            "warps_fraction": parts["warps_s"] / step_s,
        }
        print(
            f"stage 1 at batch {b}: step {1e3 * step_s:.1f} ms; network alone "
            f"{1e3 * parts['network_s']:.1f} ms ({100 * parts['network_s'] / step_s:.0f}%), "
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
    write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()
