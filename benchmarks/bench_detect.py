"""Pairs/s of the symmetry-detection training step (`train_step` on `detect.detect_loss`).

One step = the loss of eq. 6 (encoder/decoder MLPs of App. D, the t-network, the exact
`d² x d²` matrix exponential per pair, the α-matching Taylor loss in pixel space) on a batch of
pairs, its gradient, and one Adam update. Each configuration is compiled first (the compile
time is reported separately), then `--steps` calls are timed, ending in
`block_until_ready()`. The machine may be shared: compare configurations within one run.

Typical output (2 CPU cores shared with other jobs):

    device: cpu:cpu
    image  batch  channels  compile s   ms/step   pairs/s
       14    128         1      10.23      47.6      2689
       14    512         1       9.78     245.2      2088
       28    128         1      11.14     118.5      1081
       28    512         1      12.20     431.2      1187
"""

import argparse
import time

import equinox as eqx
import jax
import jax.random as jr
import optax
from _report import write_json

from sgm_eqx.detect import (
    DetectConfig,
    OneParameterTransform,
    detect_loss,
    make_pairs,
    make_symmetry_model,
    parse_magnitude,
    synthetic_images,
)
from sgm_eqx.train import train_step


def _measure(size: int, batch: int, channels: int, steps: int, blur: float) -> dict:
    k_img, k_pairs, k_model = jr.split(jr.key(0), 3)
    images = synthetic_images(k_img, batch, size=size)
    x0, xt, _ = make_pairs(
        k_pairs, images, OneParameterTransform("rotation"), parse_magnitude("uniform:-0.5,0.5")
    )
    model = make_symmetry_model(k_model, image_shape=(size, size, 1), channels=channels)
    optimizer = optax.adam(1e-3)
    with jax.numpy_dtype_promotion("standard"):
        opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    objective = detect_loss(DetectConfig(alpha_weight=100.0, l1=1e-3, taylor_order=2, blur=blur))

    def step(model, opt_state, x0, xt):
        model, opt_state, update = train_step(objective, optimizer, model, opt_state, x0, xt)
        return model, opt_state, update.loss, update.aux

    t0 = time.perf_counter()
    out = step(model, opt_state, x0, xt)
    jax.block_until_ready(out)
    first = time.perf_counter() - t0
    model, opt_state = out[0], out[1]
    out = step(model, opt_state, x0, xt)  # one more warm call
    jax.block_until_ready(out)
    model, opt_state = out[0], out[1]
    t0 = time.perf_counter()
    for _ in range(steps):
        model, opt_state, loss, aux = step(model, opt_state, x0, xt)
    jax.block_until_ready((model, opt_state, loss, aux))
    per_step = (time.perf_counter() - t0) / steps
    return {
        "image": size,
        "batch": batch,
        "channels": channels,
        "compile_s": max(first - per_step, 0.0),
        "ms_per_step": 1e3 * per_step,
        "pairs_per_s": batch / per_step,
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns (and with `--json PATH` writes) the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", default="14,28", help="comma-separated image sides")
    parser.add_argument("--batch-size", default="128,512", help="comma-separated batch sizes")
    parser.add_argument("--channels", default="1", help="comma-separated latent channel counts")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per configuration")
    parser.add_argument("--blur", type=float, default=1.0, help="α-matching blur (pixels)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    def ints(s: str) -> list[int]:
        return [int(v) for v in s.split(",") if v]

    device = jax.devices()[0]
    device_name = f"{device.platform}:{device.device_kind}"
    print(f"device: {device_name}")
    print(
        f"{'image':>5} {'batch':>6} {'channels':>9} {'compile s':>10} {'ms/step':>9} {'pairs/s':>9}"
    )
    rows = []
    for size in ints(args.image_size):
        for batch in ints(args.batch_size):
            for channels in ints(args.channels):
                r = _measure(size, batch, channels, args.steps, args.blur)
                rows.append(r)
                print(
                    f"{r['image']:>5} {r['batch']:>6} {r['channels']:>9} {r['compile_s']:>10.2f} "
                    f"{r['ms_per_step']:>9.1f} {r['pairs_per_s']:>9.0f}",
                    flush=True,
                )
    result = {
        "benchmark": "detect_train_step",
        "device": device_name,
        "device_kind": device.device_kind,
        "platform": device.platform,
        "jax_version": jax.__version__,
        "steps": args.steps,
        "results": rows,
    }
    write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()
