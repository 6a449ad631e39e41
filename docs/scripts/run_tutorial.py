"""Run every ```python block of docs/tutorial.md, in order, in one namespace.

Usage: `python docs/scripts/run_tutorial.py` (exit status 0 when every block runs).
"""

import pathlib
import re
import sys
import time


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = pathlib.Path(__file__).resolve().parents[2]
    path = pathlib.Path(args[0]) if args else root / "docs" / "tutorial.md"
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)
    namespace: dict = {"__name__": "__tutorial__"}
    for i, code in enumerate(blocks):
        t0 = time.perf_counter()
        exec(compile(code, f"{path.name}[block {i}]", "exec"), namespace)
        print(f"--- block {i} ok ({time.perf_counter() - t0:.1f} s)", flush=True)
    print(f"all {len(blocks)} blocks of {path} ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
