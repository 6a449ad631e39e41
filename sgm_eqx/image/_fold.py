"""Boundary extension of a 1-D signal by index folding (shared by the resampler and the blur).

Both build small constant matrices at trace time (numpy): the resampler's pre-filter and tap
extension, the blur's tap selection. Each needs, for an index `k` outside `[0, n)`, the
sample it copies under a boundary rule.
"""

from typing import Literal

FoldRule = Literal["zero", "nearest", "reflect", "mirror", "periodic"]


def fold_index(k: int, n: int, rule: FoldRule) -> int | None:
    """Index in `[0, n)` that sample `k` of the extended signal copies (`None`: a zero).

    Rules, for a signal `a b c d`:

    - `"zero"`: `0 0 | a b c d | 0 0`;
    - `"nearest"`: `a a | a b c d | d d`;
    - `"reflect"` (half-sample symmetric): `b a | a b c d | d c`;
    - `"mirror"` (whole-sample symmetric): `c b | a b c d | c b`;
    - `"periodic"`: `c d | a b c d | a b`.

    A one-sample signal (`n == 1`) repeats its sample under every rule but `"zero"`.
    """
    if 0 <= k < n:
        return k
    if rule == "zero":
        return None
    if n == 1 or rule == "nearest":
        return min(max(k, 0), n - 1)
    if rule == "mirror":
        period = 2 * n - 2
        k = k % period
        return period - k if k >= n else k
    if rule == "reflect":
        period = 2 * n
        k = k % period
        return period - 1 - k if k >= n else k
    if rule == "periodic":
        return k % n
    raise ValueError(f"`fold_index(rule=...)`: expected one of {FoldRule.__args__}; got {rule!r}")
