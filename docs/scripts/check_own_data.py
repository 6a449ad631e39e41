"""Run the commands of docs/own_data.md at a tiny size, in a scratch directory.

Usage: `python docs/scripts/check_own_data.py [--keep DIR]`. Runs every ```python block,
then every `sgm-eqx ...` line of the ```bash blocks in order, with tiny settings appended to
`train` (3 steps, tiny networks) and to `figures` / `evaluate` (few samples). A line ending
in `# expect error` must fail with exit status 2 and one `sgm-eqx: error:` line; every other
one must succeed. Exit status 0 when all of them behave.
"""

import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile
import time

TINY = {
    "train": [
        "--steps", "3", "--batch-size", "8", "--no-validation",
        "--set", "model.inference_hidden=(16,)", "--set", "model.feature_hidden=(16,)",
        "--set", "model.base_hidden=(8,)", "--set", "model.flow_layers=1",
        "--set", "model.flow_nn_width=8", "--set", "inference.n_samples=2",
        "--set", "flow.n_samples=2",
    ],
    "figures": ["--n-show", "3", "--n-samples", "8", "--chain-length", "2", "--resampled", "1"],
    "evaluate": ["--limit", "20", "--n-samples", "4", "--chain-length", "2"],
    "report": ["--n-examples", "3", "--n-samples", "4"],
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = pathlib.Path(__file__).resolve().parents[2]
    page = (root / "docs" / "own_data.md").read_text()
    work = pathlib.Path(args[1]) if args[:1] == ["--keep"] else pathlib.Path(tempfile.mkdtemp())
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)
    for i, code in enumerate(re.findall(r"```python\n(.*?)```", page, flags=re.S)):
        t0 = time.perf_counter()
        exec(compile(code, f"own_data.md[python {i}]", "exec"), {"__name__": "__page__"})
        print(f"--- python block {i} ok ({time.perf_counter() - t0:.1f} s)", flush=True)
    lines = [
        line.strip()
        for block in re.findall(r"```bash\n(.*?)```", page, flags=re.S)
        for line in block.splitlines()
        if line.strip().startswith("sgm-eqx ")
    ]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for line in lines:
        expect_error = line.endswith("# expect error")
        words = shlex.split(line.split("#")[0])[1:]
        if "--print-config" not in words:
            words += TINY.get(words[0], [])
        t0 = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "sgm_eqx._cli", *words], env=env, capture_output=True, text=True
        )
        errors = [x for x in result.stderr.splitlines() if x.startswith("sgm-eqx: error:")]
        ok = (
            (result.returncode == 2 and len(errors) == 1)
            if expect_error
            else result.returncode == 0
        )
        print(f"--- {'ok' if ok else 'FAILED'} ({time.perf_counter() - t0:.1f} s): {line}")
        if not ok:
            print(result.stdout[-2000:], result.stderr[-4000:], sep="\n")
            return 1
        if expect_error:
            print(f"    {errors[0]}")
    for name in (
        "metrics.jsonl",
        "loss_curves.png",
        "run.json",
        "figures/fig8_prototypes.png",
        "report/report.md",
    ):
        if not (work / "runs" / "shapes" / name).is_file():
            print(f"FAILED: runs/shapes/{name} was not written")
            return 1
    print(f"all {len(lines)} commands of own_data.md behaved (in {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
