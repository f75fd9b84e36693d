"""The three code examples of ``001_1efe11d93a142f65.txt``, as printed, for the
history_vs_console scenario's variants.

Two changes, both said in the variants' descriptions: scikit-learn is not a kmon
dependency, so example 3's ``class_weight.compute_class_weight('balanced', ...)`` is
computed with its own formula (``n_samples / (n_classes * count)``, the same array);
and ``input_shape=`` on a Dense layer (deprecated in Keras 3, a warning) is an
``Input`` layer. kmon adds its own callback to ``fit()``; ``verbose`` is the article's.
"""

from __future__ import annotations


def example1(verbose: int = 2) -> None:
    """Example 1: simple regression, 100 rows, 10 epochs of 10 batches."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(1)
    X = np.random.rand(100, 10)
    y = np.random.rand(100, 1)
    model = keras.Sequential(
        [keras.Input((10,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(loss="mse", optimizer="adam")
    history = keras.callbacks.History()
    model.fit(X, y, epochs=10, batch_size=10, callbacks=[history], verbose=verbose)
    print(history.history["loss"])  # Epoch losses


def example2() -> None:
    """Example 2: binary classification of random labels with early stopping."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(2)
    X = np.random.rand(1000, 20)
    y = np.random.randint(0, 2, 1000)
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = keras.callbacks.History()
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)
    model.fit(
        X,
        y,
        epochs=20,
        batch_size=32,
        validation_split=0.2,
        callbacks=[history, early_stopping],
        verbose=2,
    )
    print(history.history["loss"])  # Epoch losses
    print(history.history["val_loss"])  # Epoch validation losses


def example3(as_written: bool = True, weighted: bool = True) -> None:
    """Example 3: imbalanced data (800 zeros, 200 ones) and class weights.

    Args:
        as_written: pass the weights as the article does, the array that
            ``compute_class_weight`` returns: Keras 3 wants a dict and fails.
        weighted: pass class weights at all.
    """
    import keras
    import numpy as np

    keras.utils.set_random_seed(3)
    X = np.random.rand(1000, 30)
    y = np.concatenate([np.zeros(800), np.ones(200)])
    classes = np.unique(y)
    # compute_class_weight('balanced', classes=classes, y=y), without scikit-learn.
    class_weights = len(y) / (len(classes) * np.bincount(y.astype(int)))
    if not as_written:
        class_weights = dict(enumerate(class_weights))  # the smallest fix
    model = keras.Sequential(
        [
            keras.Input((30,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = keras.callbacks.History()
    model.fit(
        X,
        y,
        epochs=15,
        batch_size=64,
        class_weight=class_weights if weighted else None,
        callbacks=[history],
        verbose=2,
    )
    print(history.history["loss"])  # Epoch losses. Note the influence of class weighting.


ARTICLE_EXAMPLES = {
    "example1": example1,
    "verbose1": lambda: example1(verbose=1),
    "example2": example2,
    "example3_as_written": example3,
    "example3": lambda: example3(as_written=False),
    "unweighted": lambda: example3(as_written=False, weighted=False),
}
