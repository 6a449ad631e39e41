"""The Fig. 9 data-efficiency sweep (Sec. 4.2) at CPU size, and its figure.

Grid: θ_max ∈ {0, 45, 90, 180} degrees of added rotation x training split {all, half}
x model {vae, augvae, invvae} x 3 seeds, each a `sgm-eqx vae` run. For every (θ_max,
fraction, seed) one SGM is trained (by the AugVAE run) and reused by the InvVAE run, as the
paper shares inference/generative hyper-parameters per (seed, n_train). Runs whose
`metrics.json` exists are skipped, so the sweep can be stopped and restarted.

Each finished run's `metrics.json` is also copied to `--record` (default `docs/data/fig9/`,
`NAME.json`, committed with the repository), and runs recorded there are skipped too: the
grid takes longer than one working session, and run directories do not outlive the machine
they were made on, so the committed records are how the sweep accumulates.

    nice -n 19 python docs/scripts/fig9_sweep.py --mnist ../shared/data/mnist --out runs/fig9
    python docs/scripts/fig9_sweep.py --out runs/fig9 --plot-only     # figure from results

Reduced versions: `--angles 0,180 --seeds 0 --vae-steps 300 ...`. `--dry-run` prints the
commands. The figure (`fig9.png`) shows mean IWLB and MSE against θ_max with standard errors
over seeds, solid for the full training split and dotted for half, as in the paper.

Data: the MNIST test split (10k) re-split 8k/1k/1k by `sgm_eqx.data.load_mnist`, so "all" is
8000 training images and "half" 4000; the IWLB is over the 1000 test images (or
`--test-limit`).
"""

import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np

MODELS = ("vae", "augvae", "invvae")
COLORS = {"vae": "tab:blue", "augvae": "tab:orange", "invvae": "tab:green"}


def _cli_args(a, model, angle, frac, seed, out: pathlib.Path) -> list[str]:
    run = out / f"{model}_rot{angle}_frac{frac}_seed{seed}"
    args = [
        "vae",
        "--model", model,
        "--data", f"mnist:{a.mnist}:rotation={angle}" if angle else f"mnist:{a.mnist}",
        "--train-fraction", str(frac),
        "--seed", str(seed),
        "--out", str(run),
        "--steps", str(a.vae_steps),
        "--batch-size", str(a.batch_size),
        "--conv-channels", a.conv_channels,
        "--hidden", a.hidden,
        "--iwlb-samples", str(a.iwlb_samples),
        "--val-every", str(a.val_every),
        "--no-progress",
    ]  # fmt: skip
    if a.test_limit:
        args += ["--test-limit", str(a.test_limit)]
    sgm_dir = out / f"augvae_rot{angle}_frac{frac}_seed{seed}" / "sgm"
    if model == "invvae" and (sgm_dir / "flow.eqx").is_file():
        args += ["--sgm", str(sgm_dir)]
    elif model != "vae":
        args += ["--sgm-preset", a.sgm_preset, "--sgm-steps", str(a.sgm_steps)]
    return args


def _grid(a):
    for angle in a.angles:
        for frac in a.fractions:
            for seed in a.seeds:
                for model in ("vae", "augvae", "invvae"):  # augvae trains the shared SGM
                    yield model, angle, frac, seed


def run_sweep(a) -> None:
    from sgm_eqx._cli import main

    out, record = pathlib.Path(a.out), pathlib.Path(a.record)
    for model, angle, frac, seed in _grid(a):
        name = f"{model}_rot{angle}_frac{frac}_seed{seed}"
        run = out / name
        if (run / "metrics.json").is_file() or (record / f"{name}.json").is_file():
            continue
        args = _cli_args(a, model, angle, frac, seed, out)
        print("sgm-eqx " + " ".join(args), flush=True)
        if a.dry_run:
            continue
        t = time.perf_counter()
        code = main(args)
        print(f"  -> exit {code} in {time.perf_counter() - t:.0f} s", flush=True)
        if code == 0:
            record.mkdir(parents=True, exist_ok=True)
            (record / f"{name}.json").write_text((run / "metrics.json").read_text())


def collect(out: pathlib.Path, record: pathlib.Path) -> dict:
    """{(model, angle, frac): [metrics of each seed]}; a run directory wins over its record."""
    found = {path.stem: path for path in record.glob("*.json")}
    found |= {path.parent.name: path for path in out.glob("*/metrics.json")}
    table: dict = {}
    for name, path in sorted(found.items()):
        m = json.loads(path.read_text())
        model, rot, frac, _ = name.split("_")  # model_rotA_fracF_seedS
        table.setdefault((model, int(rot[3:]), float(frac[4:])), []).append(m)
    return table


def _mean_se(values):
    v = np.asarray(values, float)
    se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    return float(v.mean()), se


def plot(table: dict, path: pathlib.Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 2)
    for model in MODELS:
        for frac, style in ((1.0, "-"), (0.5, ":")):
            keys = sorted(k for k in table if k[0] == model and k[2] == frac)
            if not keys:
                continue
            angles = [k[1] for k in keys]
            for ax, metric in zip(axes, ("iwlb_nats", "mse"), strict=True):
                stats = [_mean_se([m[metric] for m in table[k]]) for k in keys]
                mean = np.array([s[0] for s in stats])
                se = np.nan_to_num(np.array([s[1] for s in stats]))
                label = f"{model} ({'all' if frac == 1.0 else 'half'})"
                ax.errorbar(angles, mean, yerr=se, fmt="o" + style, color=COLORS[model],
                            label=label, capsize=3)  # fmt: skip
    axes[0].set_ylabel("test IWLB (nats)")
    axes[1].set_ylabel("test reconstruction MSE")
    for ax in axes:
        ax.set_xlabel("added rotation θ_max (degrees)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def summary(table: dict) -> str:
    lines = ["| model | train | θ_max | n seeds | IWLB (nats) | MSE |", "|---|---|---|---|---|---|"]
    for key in sorted(table, key=lambda k: (MODELS.index(k[0]), -k[2], k[1])):
        runs = table[key]
        iw, iw_se = _mean_se([m["iwlb_nats"] for m in runs])
        ms, ms_se = _mean_se([m["mse"] for m in runs])
        lines.append(
            f"| {key[0]} | {'all' if key[2] == 1.0 else 'half'} | {key[1]} | {len(runs)} | "
            f"{iw:.1f} ± {iw_se:.1f} | {ms:.4f} ± {ms_se:.4f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mnist", default="../shared/data/mnist", help="MNIST directory")
    p.add_argument("--out", default="runs/fig9")
    p.add_argument("--record", default="docs/data/fig9", help="committed per-run metrics")
    p.add_argument("--angles", default="0,45,90,180")
    p.add_argument("--fractions", default="1.0,0.5")
    p.add_argument("--seeds", default="0,1,2")
    # CPU-sized defaults (the paper: filters (64,128[,256]), 5k-20k steps, batch 512, K=300)
    p.add_argument("--vae-steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--conv-channels", default="16,32")
    p.add_argument("--hidden", default="128")
    p.add_argument("--iwlb-samples", type=int, default=100)
    # 0: the last step, the protocol of the records in docs/data/fig9 (the CLI's default
    # selects the checkpoint by the validation bound)
    p.add_argument("--val-every", type=int, default=0)
    p.add_argument("--test-limit", type=int, default=0, help="0: all 1000 test images")
    p.add_argument("--sgm-preset", default="cpu-small")
    p.add_argument("--sgm-steps", type=int, default=1000)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--plot-only", action="store_true")
    a = p.parse_args(argv)
    a.angles = [int(v) for v in a.angles.split(",")]
    a.fractions = [float(v) for v in a.fractions.split(",")]
    a.seeds = [int(v) for v in a.seeds.split(",")]
    out = pathlib.Path(a.out)
    if not a.plot_only:
        run_sweep(a)
    if a.dry_run:
        return 0
    table = collect(out, pathlib.Path(a.record))
    if not table:
        print(f"no results under {out}")
        return 1
    out.mkdir(parents=True, exist_ok=True)
    plot(table, out / "fig9.png")
    text = summary(table)
    (out / "summary.md").write_text(text + "\n")
    print(text)
    print(f"wrote {out / 'fig9.png'} and {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
