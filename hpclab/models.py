"""Small Keras 3 models used across the lessons. All return logits (no softmax).

Each builder takes ``seed`` so that two calls build identical initial weights.
"""

from __future__ import annotations


def small_cnn(input_shape=(8, 8, 1), num_classes: int = 10, *, seed: int = 0):
    """A two-conv CNN for 8x8 digits (about 38k parameters): the lessons' baseline.

    Used in notebooks/09-13 (pruning, quantization, summary) and 04-05.
    """
    import keras
    from keras import layers

    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init),
            layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=init),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(64, activation="relu", kernel_initializer=init),
            layers.Dense(num_classes, kernel_initializer=init),
        ],
        name="small_cnn",
    )


def mlp(input_shape=(64,), hidden=(64,), num_classes: int = 10, *, seed: int = 0, name="mlp"):
    """A multi-layer perceptron on flat inputs; ``hidden=()`` gives a linear model."""
    import keras
    from keras import layers

    init = keras.initializers.GlorotUniform(seed=seed)
    stack = [keras.Input(shape=input_shape)]
    if len(input_shape) > 1:
        stack.append(layers.Flatten())
    stack += [layers.Dense(h, activation="relu", kernel_initializer=init) for h in hidden]
    stack.append(layers.Dense(num_classes, kernel_initializer=init))
    return keras.Sequential(stack, name=name)


def teacher_cnn(input_shape=(8, 8, 1), num_classes: int = 10, *, seed: int = 0):
    """A wider CNN (about 150k parameters): the teacher in notebooks/12."""
    import keras
    from keras import layers

    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=init),
            layers.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer=init),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(128, activation="relu", kernel_initializer=init),
            layers.Dropout(0.3, seed=seed),
            layers.Dense(num_classes, kernel_initializer=init),
        ],
        name="teacher_cnn",
    )
