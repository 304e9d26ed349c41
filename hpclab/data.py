"""Offline datasets for the lessons: scikit-learn's bundled handwritten digits.

Used from notebooks/04 onwards. Nothing here downloads unless asked to: the one
download (`load_mnist`) is opt-in and checked against a known SHA-256.
"""

from __future__ import annotations

import numpy as np

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def load_digits(*, test_size: float = 0.25, seed: int = 0, flat: bool = False):
    """The 1,797 8x8 digit images that ship with scikit-learn, split stratified.

    Returns ``(x_train, y_train), (x_test, y_test)`` with float32 pixels in [0, 1],
    shaped (n, 8, 8, 1), or (n, 64) with ``flat=True``; labels are int32 in 0..9.
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be a fraction in (0, 1), e.g. 0.25; got {test_size!r}")
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
    """A batched, prefetched tf.data.Dataset of (x, y); shuffled with a fixed seed if asked."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, e.g. 64; got {batch_size!r}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}")
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def load_mnist(*, allow_download: bool = False, cache_dir: str | None = None,
               timeout_s: float = 30.0):
    """MNIST (70,000 28x28 digits), downloaded once and checked against its SHA-256.

    Opt-in: without ``allow_download=True`` this raises at once, so the default path
    of every lesson stays offline. Offline, the download fails within ``timeout_s``
    with a message that says so. Returns ``(x_train, y_train), (x_test, y_test)``
    with float32 pixels in [0, 1] shaped (n, 28, 28, 1).
    """
    if not allow_download:
        raise RuntimeError(
            "load_mnist downloads about 11 MB: pass allow_download=True to opt in, "
            "or use hpclab.data.load_digits() which works offline"
        )
    import socket

    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        path = keras.utils.get_file(
            "mnist.npz", MNIST_URL, file_hash=MNIST_SHA256, cache_dir=cache_dir
        )
    except Exception as err:  # URLError, timeout, hash mismatch: all mean "no MNIST here"
        raise RuntimeError(
            f"could not download MNIST ({type(err).__name__}: {err}); are you offline? "
            "Use hpclab.data.load_digits() instead"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    with np.load(path) as f:
        x_train, y_train, x_test, y_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    scale = lambda a: (a.astype("float32") / 255.0)[..., None]  # noqa: E731
    return (scale(x_train), y_train.astype("int32")), (scale(x_test), y_test.astype("int32"))
