"""Fig. 6 of the 2022 workshop paper: predicted-angle range against the data's rotation range.

Trains the joint-ELBO model (`sgm-eqx elbo`) once per data rotation range, then draws the
samples of q_ν(η | x) on the test digits of every run in one figure and prints the 95% widths.

    python docs/scripts/elbo_rotation_ranges.py --mnist /work/shared/data/mnist \
        --out runs/elbo_ranges [--ranges 0 15 45 90 180] [--steps 2000] [--preset cpu]

Runs that already have a `metrics.json` in `OUT/rotN` are reused (delete them to retrain).
Writes `OUT/fig6_angle_ranges.png` and `OUT/ranges.json`.
"""

import argparse
import json
import pathlib

import numpy as np

from sgm_eqx._cli import main as sgm_main
from sgm_eqx.elbo import angle_range, plot_angle_ranges


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", required=True, help="directory with the MNIST files")
    parser.add_argument("--out", required=True)
    parser.add_argument("--ranges", type=float, nargs="+", default=[0, 15, 45, 90, 180])
    parser.add_argument("--steps", type=int, default=None, help="training steps per run")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-digits", type=int, default=20)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    samples, table = {}, {}
    for deg in args.ranges:
        run = out / f"rot{deg:g}"
        if not (run / "metrics.json").is_file():
            argv = [
                "elbo",
                "--data",
                f"mnist:{args.mnist}:rotation={deg:g}",
                "--out",
                str(run),
                "--preset",
                args.preset,
                "--seed",
                str(args.seed),
                "--eval-digits",
                str(args.eval_digits),
                "--no-progress",
            ]
            if args.steps is not None:
                argv += ["--steps", str(args.steps)]
            if sgm_main(argv) != 0:
                return 1
        with np.load(run / "eta_samples.npz") as f:
            samples[deg] = f["samples"]
        metrics = json.loads((run / "metrics.json").read_text())
        table[deg] = {
            "predicted_angle_range_deg_95": angle_range(samples[deg], 0.95),
            "angle_slope": metrics["angle_slope"],
            "prototype_spread_deg_median": metrics["prototype_spread_deg_median"],
            "test_elbo": metrics["test_elbo"],
        }
    fig = plot_angle_ranges(samples)
    fig.savefig(out / "fig6_angle_ranges.png", dpi=110)
    widths = [table[d]["predicted_angle_range_deg_95"] for d in sorted(table)]
    summary = {
        "runs": {f"{d:g}": table[d] for d in sorted(table)},
        "monotone": bool(np.all(np.diff(widths) > 0)),
    }
    (out / "ranges.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
