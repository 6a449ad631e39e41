"""Print the markdown results table of docs/detect.md from the runs' metrics.json files.

Usage: python docs/scripts/detect_table.py RUN_ROOT [NAME ...]
(RUN_ROOT as given to docs/scripts/detect_mnist.sh; NAMEs default to every run folder there).
Optionally copies the figures to docs/images/detect_<name>_{flow,t}.png with --copy-figures.
"""

import argparse
import json
import pathlib
import shutil


def main(argv: list[str] | None = None) -> None:
    """Print the table; optionally copy the figures into docs/images."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=pathlib.Path)
    parser.add_argument("names", nargs="*")
    parser.add_argument("--copy-figures", action="store_true")
    args = parser.parse_args(argv)
    names = args.names or sorted(p.parent.name for p in args.root.glob("*/metrics.json"))
    images = pathlib.Path(__file__).resolve().parents[1] / "images"
    print(
        "| run | transform | magnitude | extra flags | \\|cos\\| | t W1 | t std | corr(s·t, t) "
        "| train s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    from sgm_eqx.detect import DetectConfig

    defaults = DetectConfig()
    for name in names:
        m = json.loads((args.root / name / "metrics.json").read_text())
        # runs written before DetectConfig kept their flags as strings under "args"
        config = m.get("config") or {k: v for k, v in m.get("args", {}).items()}
        extra = " ".join(
            f"--set {k}={config[k]}"
            for k in ("taylor_order", "blur", "steps", "l1")
            if k in config and float(config[k]) != float(getattr(defaults, k))
        )
        print(
            f"| {name} | {m['transform']} | `{m['magnitude']}` | {extra or '—'} "
            f"| {m['generator_abs_cos']:.4f} | {m['t_w1']:.4f} | {m['t_true_std']:.3f} "
            f"| {m['t_corr']:.3f} | {m['train_seconds']:.0f} |"
        )
        if args.copy_figures:
            images.mkdir(parents=True, exist_ok=True)
            shutil.copy(args.root / name / "flow_field.png", images / f"detect_{name}_flow.png")
            shutil.copy(args.root / name / "t_histogram.png", images / f"detect_{name}_t.png")


if __name__ == "__main__":
    main()
