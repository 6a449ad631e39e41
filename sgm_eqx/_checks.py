"""Argument checks shared by the network constructors and the config dataclasses.

They sit below every layer (no library imports). Each raises a `ValueError` that names the
call and the argument, as the rest of the library does:
`` `ConvVAEEncoder(image_shape=...)`: expected ... ``.
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


def positive_field(name: str, field: str, value, *, integer: bool = False) -> None:
    """A config field that must be a positive number (a positive int with `integer`)."""
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if not ok or isinstance(value, bool) or not value > 0:
        kind = "a positive int" if integer else "a positive number"
        raise ValueError(f"`{name}({field}=...)`: expected {kind}; got {value!r}")


def non_negative_field(name: str, field: str, value) -> None:
    """A config field that must be a number >= 0."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"`{name}({field}=...)`: expected a number >= 0; got {value!r}")


def fraction_field(name: str, field: str, value) -> None:
    """A config field that must lie in [0, 1]."""
    if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}({field}=...)`: expected a fraction in [0, 1]; got {value!r}")


def sizes_field(name: str, field: str, value, *, allow_empty: bool = True) -> None:
    """A config field that must be a tuple of positive ints (non-empty unless `allow_empty`)."""
    ok = isinstance(value, tuple) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    )
    if not ok or (not value and not allow_empty):
        kind = "a tuple" if allow_empty else "a non-empty tuple"
        raise ValueError(
            f"`{name}({field}=...)`: expected {kind} of positive ints, like (512, 256); "
            f"got {value!r}"
        )
