"""Images/s of affine warps: `sgm_eqx.groups.Affine2D.apply` vs PyTorch vs `jax.scipy`.

For a batch of images (default 512) of 28x28x1 and 64x64x3, with random parameters in the
training ranges, times in one run and side by side:

- `sgm_eqx` `Affine2D.from_params(eta).apply(x)`, jitted and vmapped, orders 1 and 3
  (forward, and forward + backward w.r.t. `eta`, which is what a training step needs);
- PyTorch `affine_grid` + `grid_sample` (bilinear, bicubic; `align_corners=False`), forward
  and forward + backward w.r.t. `theta` (skipped with a message if torch is not importable);
- `jax.scipy.ndimage.map_coordinates` (order 1, vmapped over images and channels; forward
  and forward + backward w.r.t. `eta`).

Note that PyTorch's bicubic is the Keys cubic convolution kernel (a = -0.75), not the cubic
B-spline with pre-filter of scipy/`sgm_eqx` (order 3): similar cost class, different maths.

Each variant is compiled / warmed up first, then timed over `--repeats` calls ending in
`block_until_ready()` (best and median reported). The machine may be shared: compare the
ratios within one run, not absolute numbers across runs.

Usage: `python benchmarks/bench_warp.py [--json PATH] [--batch-size N] [--repeats R]`

Typical output (2 shared AMD EPYC cores, CPU, batch 512) is recorded in
`docs/conventions.md`'s performance section.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from _report import write_json

from sgm_eqx.groups import Affine2D

SIZES = ((28, 28, 1), (64, 64, 3))
# Training ranges: |t| <= 0.5, |θ| <= π, |log s| <= 0.3 (App. C).
BOUNDS = np.array([0.5, 0.5, np.pi, 0.3, 0.3], np.float32)


def _time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best and median seconds of `fn()` (which must block until its result is ready)."""
    fn()  # compile / warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def _ours(order: int) -> tuple[Callable, Callable]:
    def warp(eta, x):
        return Affine2D.from_params(eta, order=order).apply(x)

    def loss(etas, xs, ws):
        return jnp.sum(jax.vmap(warp)(etas, xs) * ws)

    fwd = jax.jit(jax.vmap(warp))
    bwd = jax.jit(jax.value_and_grad(loss))
    return fwd, bwd


def _jax_scipy() -> tuple[Callable, Callable]:
    """Order-1 warp with `jax.scipy.ndimage.map_coordinates` (same coordinates as ours)."""

    def warp(eta, x):
        g = Affine2D.from_params(eta, order=1)
        h, w, _ = x.shape
        inv = g.inverse().matrix
        xs = (2.0 * jnp.arange(w, dtype=x.dtype) + 1.0) / w - 1.0
        ys = 1.0 - (2.0 * jnp.arange(h, dtype=x.dtype) + 1.0) / h
        px, py = jnp.meshgrid(xs, ys)
        sx = inv[0, 0] * px + inv[0, 1] * py + inv[0, 2]
        sy = inv[1, 0] * px + inv[1, 1] * py + inv[1, 2]
        coords = [(1.0 - sy) * (0.5 * h) - 0.5, (sx + 1.0) * (0.5 * w) - 0.5]

        def channel(img):
            return jax.scipy.ndimage.map_coordinates(img, coords, order=1, mode="constant")

        return jax.vmap(channel, in_axes=-1, out_axes=-1)(x)

    def loss(etas, xs, ws):
        return jnp.sum(jax.vmap(warp)(etas, xs) * ws)

    return jax.jit(jax.vmap(warp)), jax.jit(jax.value_and_grad(loss))


def _torch_thetas(etas: np.ndarray) -> np.ndarray:
    """PyTorch's `theta` (frame map, y down) for the content maps `A = exp(Σ η G)` (y up)."""
    mats = np.asarray(jax.vmap(lambda e: Affine2D.from_params(e).inverse().matrix)(etas))
    flip = np.diag([1.0, -1.0, 1.0]).astype(np.float32)
    return (flip @ mats @ flip)[:, :2, :].astype(np.float32)


def _bench_torch(torch, xs_np, thetas_np, mode, repeats) -> dict:
    import torch.nn.functional as F

    xs = torch.from_numpy(np.ascontiguousarray(np.moveaxis(xs_np, -1, 1)))
    thetas = torch.from_numpy(thetas_np)
    n = xs.shape[0]

    def forward():
        with torch.no_grad():
            grid = F.affine_grid(thetas, list(xs.shape), align_corners=False)
            F.grid_sample(xs, grid, mode=mode, padding_mode="zeros", align_corners=False)

    def backward():
        th = thetas.clone().requires_grad_(True)
        grid = F.affine_grid(th, list(xs.shape), align_corners=False)
        F.grid_sample(
            xs, grid, mode=mode, padding_mode="zeros", align_corners=False
        ).sum().backward()

    best_f, med_f = _time(forward, repeats)
    best_b, med_b = _time(backward, repeats)
    return {
        "fwd": n / best_f,
        "fwd_median": n / med_f,
        "fwd_bwd": n / best_b,
        "fwd_bwd_median": n / med_b,
    }


def _bench_jax(fns, etas, xs, repeats) -> dict:
    fwd, bwd = fns
    ws = jnp.ones_like(xs)
    n = xs.shape[0]
    best_f, med_f = _time(lambda: fwd(etas, xs).block_until_ready(), repeats)
    best_b, med_b = _time(lambda: jax.block_until_ready(bwd(etas, xs, ws)), repeats)
    return {
        "fwd": n / best_f,
        "fwd_median": n / med_f,
        "fwd_bwd": n / best_b,
        "fwd_bwd_median": n / med_b,
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; return (and optionally write as JSON) the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--sizes", default="28x28x1,64x64x3", help="comma-separated HxWxC image sizes"
    )
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s]

    device = jax.devices()[0]
    info = {
        "platform": device.platform,
        "device_kind": device.device_kind,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        torch = None
        print("torch is not importable: skipping the PyTorch rows (pip install torch)")
    print(f"device: {device.platform} / {device.device_kind}; batch {args.batch_size}")

    rows = []
    key = jr.key(0)
    for h, w, c in sizes:
        k_eta, k_x, key = jr.split(key, 3)
        etas = jr.uniform(k_eta, (args.batch_size, 5), minval=-1.0, maxval=1.0) * BOUNDS
        xs = jr.uniform(k_x, (args.batch_size, h, w, c))
        size = f"{h}x{w}x{c}"
        variants: list[tuple[str, Callable[..., dict], tuple]] = [
            ("sgm_eqx order 1", _bench_jax, (_ours(1), etas, xs, args.repeats)),
            ("sgm_eqx order 3", _bench_jax, (_ours(3), etas, xs, args.repeats)),
            ("jax.scipy order 1", _bench_jax, (_jax_scipy(), etas, xs, args.repeats)),
        ]
        if torch is not None:
            thetas = _torch_thetas(np.asarray(etas))
            xs_np = np.array(xs)  # a writable copy for torch.from_numpy
            for mode in ("bilinear", "bicubic"):
                variants.append(
                    (f"torch {mode}", _bench_torch, (torch, xs_np, thetas, mode, args.repeats))
                )
        for name, run, run_args in variants:
            result = run(*run_args)
            rows.append({"size": size, "variant": name, **result})
            print(
                f"{size:>9}  {name:<18} fwd {result['fwd']:>10.0f} img/s   "
                f"fwd+bwd {result['fwd_bwd']:>10.0f} img/s",
                flush=True,
            )

    print("\nimages/s (best of repeats; fwd+bwd = value and gradient w.r.t. the parameters)")
    print(f"{'size':>9}  {'variant':<18} {'fwd':>10} {'fwd+bwd':>10}")
    for row in rows:
        print(f"{row['size']:>9}  {row['variant']:<18} {row['fwd']:>10.0f} {row['fwd_bwd']:>10.0f}")
    result = {"info": info, "rows": rows}
    write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()
