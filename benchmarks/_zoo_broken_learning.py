"""The diagnosis zoo's broken runs whose model learns the wrong thing or nothing:
overfitting, dead ReLUs, majority-class collapse, a frozen model, a learning rate of
0, shuffled targets; each beside the fix its alarm's advice names (see
``_zoo_broken.py``).
"""

from __future__ import annotations

from _zoo_cases import blobs, case, rng, tabular_regression

# -- small data, large model ------------------------------------------------------------------


def small_data_mlp(regularized: bool):
    """300 rows of two overlapping 30-D blobs, 30% held out, into an MLP 256-256:
    plain, or with L2, dropout and early stopping (the advice against overfitting)."""
    import keras

    x, y = blobs(300, 30, 2, spread=2.0, offset=13)
    penalty = keras.regularizers.L2(1e-3) if regularized else None
    layers = [keras.Input((30,))]
    for _ in range(2):
        layers.append(keras.layers.Dense(256, activation="relu", kernel_regularizer=penalty))
        if regularized:
            layers.append(keras.layers.Dropout(0.5))
    model = keras.Sequential([*layers, keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    stop = [keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)]
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=20,
        validation_split=0.3,
        callbacks=stop if regularized else None,
    )


@case(
    "overfit_small_data",
    "MLP 256-256 on 210 training rows: val_loss is best at epoch 2 and rises every "
    "epoch after, while the training loss falls to 0.002",
    expect={"overfitting"},
    # The rule needs the best epoch and 3 rising ones after it: epoch 5 at the
    # earliest here, so the "by epoch 2" cannot hold; one epoch of slack.
    deadline=6,
)
def overfit_small_data():
    small_data_mlp(regularized=False)


@case(
    "overfit_small_data_fixed",
    "the same with L2 1e-3, Dropout(0.5) and EarlyStopping(patience=2, "
    "restore_best_weights=True)",
    fixes=("overfit_small_data",),
)
def overfit_small_data_fixed():
    small_data_mlp(regularized=True)


# -- dead ReLUs ----------------------------------------------------------------------------------


def relu_mlp(first_bias: float):
    """The MLP regression 64-64, its first layer's biases starting at ``first_bias``."""
    import keras

    x, y = tabular_regression(4000, 10, offset=12)
    model = keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(
                64, activation="relu", bias_initializer=keras.initializers.Constant(first_bias)
            ),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=32, epochs=4, validation_split=0.2)


@case(
    "dead_relu",
    "MLP 64-64 whose first layer's biases start at -3: every ReLU of both layers "
    "outputs 0 for every input, for good",
    expect={"dead_units"},
    # A dead network outputs its last bias alone: constant predictions, no gradient
    # below the output layer, a loss stuck at the constant predictor's. All true.
    allow={"prediction_variance", "vanishing_gradients", "no_learning"},
)
def dead_relu():
    relu_mlp(-3.0)


@case("dead_relu_fixed", "the same with the biases at 0 (Keras's default)", fixes=("dead_relu",))
def dead_relu_fixed():
    relu_mlp(0.0)


# -- vanishing gradients ------------------------------------------------------------------------


def deep_mlp(activation: str):
    """Ten Dense(32) layers of ``activation`` on the 2-class blobs, SGD at 0.01.

    800 steps an epoch, about 3 s here: kmon's first gradient probe waits for 2.5 s
    of training and the next comes once 0.3% of the steps' time paid for it, so
    on epochs under 2 s the two checks the alarm needs land in the third epoch.
    """
    import keras

    x, y = blobs(16000, 20, 2, spread=1.0, offset=18)
    hidden = [keras.layers.Dense(32, activation=activation) for _ in range(10)]
    model = keras.Sequential(
        [keras.Input((20,)), *hidden, keras.layers.Dense(1, activation="sigmoid")]
    )
    model.compile(keras.optimizers.SGD(0.01), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=16, epochs=3, validation_split=0.2)


@case(
    "deep_sigmoid",
    "ten sigmoid layers, SGD: the first layer's gradient is about 1e-5 times the last's "
    "and the loss stays at the prior's 0.693",
    expect={"vanishing_gradients"},
    # Nothing below the top layers learns, so the output is the prior for every
    # input and the loss is the constant predictor's: true as well.
    allow={"prediction_variance", "no_learning"},
)
def deep_sigmoid():
    deep_mlp("sigmoid")


@case(
    "deep_relu",
    "the same ten layers with ReLU (the advice: ReLU/GELU activations)",
    fixes=("deep_sigmoid",),
)
def deep_relu():
    deep_mlp("relu")


# -- majority-class collapse ---------------------------------------------------------------------


@case(
    "majority_collapse",
    "MLP, 3 classes 70/15/15 whose minority classes never outweigh the majority one, "
    "no class weights: 99% of predictions are the majority class (accuracy 0.69 hides "
    "it)",
    expect={"class_collapse"},
)
def majority_collapse():
    from _zoo_healthy import imbalanced

    imbalanced(class_weight=False)


# -- nothing learns --------------------------------------------------------------------------------


def binary_mlp(*, frozen=False, learning_rate=1e-3, shuffled=False, rows=4000):
    """A 2-class MLP like ``mlp_binary``: frozen, at another learning rate, or with
    its labels shuffled against its inputs."""
    import keras

    x, y = blobs(rows, 20, 2, spread=1.0, offset=15)
    if shuffled:
        y = rng(16).permutation(y)
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.trainable = not frozen
    model.compile(keras.optimizers.Adam(learning_rate), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=4, validation_split=0.2)


@case(
    "frozen_model",
    "the 2-class MLP with model.trainable = False: the loss never moves",
    expect={"no_learning"},
)
def frozen_model():
    binary_mlp(frozen=True)


@case(
    "frozen_model_fixed",
    "the same, trainable, with Adam at its default 0.001",
    fixes=("frozen_model", "zero_lr"),
)
def frozen_model_fixed():
    binary_mlp()


@case(
    "zero_lr",
    "the 2-class MLP with Adam at learning rate 0",
    expect={"no_learning"},
)
def zero_lr():
    binary_mlp(learning_rate=0.0)


@case(
    "shuffled_targets",
    "the 2-class MLP on 8,000 labels shuffled against their inputs: nothing to learn",
    expect={"no_learning"},
    # The best a model can do is predict the prior for every input: its
    # predictions do become nearly constant, which is true.
    allow={"prediction_variance"},
)
def shuffled_targets():
    binary_mlp(shuffled=True, rows=8000)


@case(
    "shuffled_targets_fixed",
    "the same MLP on the labels that belong to its inputs",
    fixes=("shuffled_targets",),
)
def shuffled_targets_fixed():
    binary_mlp(rows=8000)


BROKEN = [
    overfit_small_data,
    overfit_small_data_fixed,
    dead_relu,
    dead_relu_fixed,
    deep_sigmoid,
    deep_relu,
    majority_collapse,
    frozen_model,
    frozen_model_fixed,
    zero_lr,
    shuffled_targets,
    shuffled_targets_fixed,
]
