"""Offline datasets for the lessons: scikit-learn's bundled handwritten digits.

Used from notebooks/04 onwards. Nothing here downloads anything.
"""

from __future__ import annotations

from hpclab import checks


def load_digits(*, test_size: float = 0.25, seed: int = 0, flat: bool = False):
    """The 1,797 8x8 digit images that ship with scikit-learn, split stratified.

    Returns ``(x_train, y_train), (x_test, y_test)`` with float32 pixels in [0, 1],
    shaped (n, 8, 8, 1), or (n, 64) with ``flat=True``; labels are int32 in 0..9.
    """
    test_size = checks.fraction("test_size", test_size, example=0.25)
    seed, flat = checks.integer("seed", seed, minimum=0, example=0), checks.boolean("flat", flat)
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = _sk_load_digits()
    x = (bunch.data / 16.0).astype("float32")
    x = x if flat else x.reshape(-1, 8, 8, 1)
    y = bunch.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    return (x_train, y_train), (x_test, y_test)


def make_dataset(x, y, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                 drop_remainder: bool = False, repeat: bool = False):
    """A batched, prefetched tf.data.Dataset of (x, y); shuffled with a fixed seed if asked
    (a new order every epoch, the same sequence of orders for the same seed)."""
    batch_size = checks.integer("batch_size", batch_size, example=64)
    for name, value in (("shuffle", shuffle), ("drop_remainder", drop_remainder), ("repeat", repeat)):
        checks.boolean(name, value)
    seed = checks.integer("seed", seed, minimum=0, example=0)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ValueError("x and y are empty: pass at least one example")
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
