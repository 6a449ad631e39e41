"""The `Dataset` container shared by every loader."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

#: Split codes stored in `Dataset.split`.
SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2}


class Dataset(eqx.Module):
    """Images with optional labels, ground-truth latents and a train/val/test split.

    **Fields:**

    - `images`: float32 in `[0, 1]`, shape `(N, H, W, C)` (channels last).
    - `labels`: int32 `(N,)` or `None` (MNIST digit; dSprites shape index).
    - `latents`: float32 `(N, L)` or `None`; for dSprites `L = 5` with columns
      `(shape, scale, orientation, x, y)` (see [`sgm_eqx.data.render_dsprites`][]).
    - `split`: int32 `(N,)` with `0 = train`, `1 = val`, `2 = test`.
    - `name`: a short description of where the data came from (static).

    Use [`sgm_eqx.data.Dataset.subset`][] to get one split and
    [`sgm_eqx.data.Dataset.take`][] to index examples.
    """

    images: Float[Array, "N H W C"]
    labels: Int[Array, " N"] | None
    latents: Float[Array, "N L"] | None
    split: Int[Array, " N"]
    name: str = eqx.field(static=True, default="data")

    def __check_init__(self):
        if self.images.ndim != 4:
            raise ValueError(
                f"`Dataset(images=...)`: expected shape (N, H, W, C); got {self.images.shape}."
            )
        n = self.images.shape[0]
        for field in ("labels", "latents", "split"):
            value = getattr(self, field)
            if value is not None and value.shape[0] != n:
                raise ValueError(
                    f"`Dataset({field}=...)`: expected {n} rows (one per image); got "
                    f"shape {value.shape}."
                )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """`(H, W, C)` of one example."""
        return tuple(self.images.shape[1:])  # pyright: ignore[reportReturnType]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def take(self, index) -> "Dataset":
        """The examples at `index` (an int array, a slice or a boolean mask), as a `Dataset`."""
        index = np.asarray(index) if not isinstance(index, slice) else index
        return Dataset(
            images=self.images[index],
            labels=None if self.labels is None else self.labels[index],
            latents=None if self.latents is None else self.latents[index],
            split=self.split[index],
            name=self.name,
        )

    def subset(self, split: str) -> "Dataset":
        """The examples of one split: `"train"`, `"val"`, `"test"` or `"all"`."""
        if split == "all":
            return self
        if split not in SPLITS:
            raise ValueError(
                f"`Dataset.subset(split=...)`: expected one of {[*SPLITS, 'all']}; got {split!r}."
            )
        mask = np.asarray(self.split) == SPLITS[split]
        return self.take(np.nonzero(mask)[0])


def split_codes(n: int, *, val_fraction: float, test_fraction: float) -> Int[Array, " n"]:
    """Deterministic split codes: the first examples train, then val, then test.

    Loaders that generate data randomly (dSprites) or whose files are already shuffled (MNIST)
    use contiguous blocks, so the split never depends on a seed.
    """
    n_test = round(n * test_fraction)
    n_val = round(n * val_fraction)
    codes = np.zeros(n, np.int32)
    codes[n - n_test - n_val : n - n_test] = SPLITS["val"]
    codes[n - n_test :] = SPLITS["test"]
    return jnp.asarray(codes)


def as_dataset(
    images,
    labels=None,
    *,
    latents=None,
    name: str = "array",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """Wrap a plain array of images as a [`sgm_eqx.data.Dataset`][].

    **Arguments:**

    - `images`: `(N, H, W, C)` (or `(N, H, W)`, given one channel) array. Integer arrays are
      read as 8-bit (divided by 255); float arrays must already be in `[0, 1]`.
    - `labels`: optional `(N,)` integer labels.
    - `latents`: optional `(N, L)` float latents.
    - `val_fraction`, `test_fraction`: sizes of the deterministic trailing val/test blocks.

    **Returns:** a `Dataset`.
    """
    from ._files import check_images

    arr = check_images(np.asarray(images), "`as_dataset(images=...)`")
    return Dataset(
        images=jnp.asarray(arr),
        labels=None if labels is None else jnp.asarray(np.asarray(labels), jnp.int32),
        latents=None if latents is None else jnp.asarray(np.asarray(latents), jnp.float32),
        split=split_codes(arr.shape[0], val_fraction=val_fraction, test_fraction=test_fraction),
        name=name,
    )
