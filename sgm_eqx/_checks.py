"""Argument checks shared by every network constructor (below every layer; no library imports).

Each raises a `ValueError` that names the call and the argument, as the rest of the library
does: `` `ConvVAEEncoder(image_shape=...)`: expected ... ``.
"""


def image_shape_arg(name: str, image_shape) -> tuple[int, int, int]:
    """`image_shape` as three positive Python ints `(H, W, C)`; `name` is the caller."""
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or any(s < 1 for s in shape):
        raise ValueError(
            f"`{name}(image_shape=...)`: expected a positive `(H, W, C)` tuple; got {image_shape}."
        )
    return shape[0], shape[1], shape[2]


def layer_sizes(name: str, arg: str, sizes, *, allow_empty: bool = True) -> tuple[int, ...]:
    """`sizes` as a tuple of positive Python ints (layer widths, channel counts)."""
    out = tuple(int(s) for s in sizes)
    if (not out and not allow_empty) or any(s < 1 for s in out):
        raise ValueError(f"`{name}({arg}=...)`: expected positive layer sizes; got {tuple(sizes)}.")
    return out
