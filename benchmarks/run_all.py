"""Run every benchmark in this folder and collect the JSON results in ``bench-results/``.

Usage: ``python benchmarks/run_all.py [--only NAME[,NAME]] [--out DIR]`` (``nox -s bench`` runs it).
Each benchmark module exposes ``main(argv) -> dict`` and accepts ``--json PATH``; it compiles
first, then times calls ending in ``block_until_ready()`` and records the device it ran on, so
the same command measures a CPU or a GPU, whatever JAX sees.
"""

import argparse
import importlib.util
import json
import pathlib
import platform
import time

import jax

HERE = pathlib.Path(__file__).parent
# name -> (file, arguments besides --json)
BENCHMARKS = {
    "warp": ("bench_warp.py", []),
    # --breakdown: also where a stage-1 step's time goes, and the bound its matmuls set.
    "train_step": ("train_step.py", ["--breakdown"]),
    "detect": ("bench_detect.py", []),
}


def _load(path: pathlib.Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="", help="comma-separated subset of " + ",".join(BENCHMARKS)
    )
    parser.add_argument("--out", default="bench-results", help="folder for the JSON files")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {sorted(BENCHMARKS)}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = jax.devices()[0]
    summary: dict = {
        "device": f"{device.platform}:{device.device_kind}",
        "n_devices": jax.device_count(),
        "host": platform.processor() or platform.machine(),
        "results": {},
    }
    print(f"device: {summary['device']} x{summary['n_devices']}")
    for name in names:
        print(f"\n=== {name} ===")
        start = time.perf_counter()
        file, extra = BENCHMARKS[name]
        module = _load(HERE / file)
        result = module.main([*extra, "--json", str(out / f"{name}.json")])
        summary["results"][name] = {
            "json": str(out / f"{name}.json"),
            "wall_s": time.perf_counter() - start,
        }
        summary["results"][name]["summary"] = result
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"\nwrote {out / 'summary.json'}")
    return summary


if __name__ == "__main__":
    main()
