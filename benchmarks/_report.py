"""Shared by the benchmark scripts: write a result dict as JSON (creating folders)."""

import json
import pathlib


def write_json(result: dict, path: str | None) -> None:
    """Write `result` to `path` as indented JSON; do nothing when `path` is None."""
    if path is None:
        return
    out = pathlib.Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {out}")
