"""The three code examples of ``000_4aa3bddb73fab038.txt``, for the multi_head_metrics
scenario's variants: "as written" runs the article's code as printed, "as intended"
the smallest change that makes it do what its comments say.

The article's examples only build and compile; each variant then fits on this
scenario's sequences (``timesteps``, ``features`` and, for example 3, the functional
model's layers are the reader's, so the variants define them) for a few epochs.
"""

from __future__ import annotations

#: Example 1 as printed: a comma is missing after the regression layer.
EXAMPLE1 = """\
import tensorflow as tf
from tensorflow import keras
from keras.layers import LSTM, Dense

model = keras.Sequential([
    LSTM(64, input_shape=(timesteps, features)),
    Dense(3, activation='softmax', name='classification_output'), # Classification output
    Dense(1, name='regression_output') # Regression output
    Dense(1, name='std_output') # Standard Deviation Output
])

model.compile(loss={'classification_output': 'categorical_crossentropy',
                    'regression_output': 'mse',
                    'std_output':'mse'},
              optimizer='adam',
              metrics={'classification_output': 'accuracy'})
"""

#: Example 2 as printed: a Sequential model whose loss dict names its three layers.
EXAMPLE2 = """\
import tensorflow as tf
from tensorflow import keras
from keras.layers import LSTM, Dense

model = keras.Sequential([
    LSTM(64, input_shape=(timesteps, features)),
    Dense(3, activation='softmax', name='output1'), # Output 1
    Dense(3, activation='softmax', name='output2'), # Output 2
    Dense(3, activation='softmax', name='output3') # Output 3
])

model.compile(loss={'output1': 'categorical_crossentropy',
                    'output2': 'categorical_crossentropy',
                    'output3': 'categorical_crossentropy'},
              optimizer='adam',
              metrics={'output1': 'accuracy',
                       'output2': 'accuracy',
                       'output3': 'accuracy'})
"""

#: Example 3 as printed: a custom metric written with ``keras.backend``.
EXAMPLE3 = """\
import tensorflow as tf
from tensorflow import keras
from keras.layers import LSTM, Dense
from keras import backend as K

def custom_regression_metric(y_true, y_pred):
    return K.mean(K.abs(y_true - y_pred)) #Mean Absolute Error

model = keras.Model(inputs=input_layer, outputs=[classification_output, regression_output, std_output])

model.compile(loss={'classification_output': 'categorical_crossentropy',
                    'regression_output': 'mse',
                    'std_output':'mse'},
              optimizer='adam',
              metrics={'classification_output': 'accuracy',
                       'regression_output': custom_regression_metric})
"""

EPOCHS = 3
CLASSES = 3


def targets(x):
    """The three targets the article's heads predict: one of three classes (one-hot),
    the next value (here the mean of feature 0), and its standard deviation."""
    import numpy as np

    classes = np.argmax(x[:, :, 1 : 1 + CLASSES].mean(axis=1), axis=1)
    return (
        np.eye(CLASSES, dtype="float32")[classes],
        x[:, :, 0].mean(axis=1, keepdims=True),
        x[:, :, 0].std(axis=1, keepdims=True),
    )


def _run_as_printed(code: str, name: str, x, y, **names) -> None:
    """Run ``code`` as printed (compiled under ``name``, so the traceback shows its
    lines), then fit what it built, as the reader would next."""
    import keras

    namespace = {"__name__": name, **names}
    exec(compile(code, name, "exec"), namespace)  # noqa: S102 - the article's own code
    model = namespace["model"]
    model.fit(x, y, epochs=EPOCHS, validation_split=0.2)
    keras.backend.clear_session()


def _three_heads(keras, x, activations, names):
    inputs = keras.Input(x.shape[1:], name="sequence")
    features = keras.layers.LSTM(64)(inputs)
    return inputs, [
        keras.layers.Dense(units, activation=activation, name=name)(features)
        for (units, activation), name in zip(activations, names, strict=True)
    ]


def run(variant: str, x) -> None:
    """Run one of the article's examples on sequences ``x``."""
    import keras

    timesteps, features = x.shape[1:]
    classes, mean, std = targets(x)
    if variant == "example1_as_written":
        _run_as_printed(
            EXAMPLE1, "000 example 1", x, classes, timesteps=timesteps, features=features
        )
    elif variant == "example2_as_written":
        _run_as_printed(
            EXAMPLE2, "000 example 2", x, classes, timesteps=timesteps, features=features
        )
    elif variant in ("example3_as_written", "example1", "example3"):
        names = ["classification_output", "regression_output", "std_output"]
        inputs, outputs = _three_heads(
            keras, x, [(CLASSES, "softmax"), (1, None), (1, None)], names
        )
        y = dict(zip(names, (classes, mean, std), strict=True))
        if variant == "example3_as_written":
            _run_as_printed(
                EXAMPLE3,
                "000 example 3",
                x,
                y,
                input_layer=inputs,
                classification_output=outputs[0],
                regression_output=outputs[1],
                std_output=outputs[2],
            )
            return
        metrics = {"classification_output": "accuracy"}
        if variant == "example3":

            def custom_regression_metric(y_true, y_pred):
                return keras.ops.mean(keras.ops.abs(y_true - y_pred))  # Mean Absolute Error

            metrics["regression_output"] = custom_regression_metric
        model = keras.Model(inputs, outputs)
        model.compile(
            loss={
                "classification_output": "categorical_crossentropy",
                "regression_output": "mse",
                "std_output": "mse",
            },
            optimizer="adam",
            metrics=metrics,
        )
        model.fit(x, y, epochs=EPOCHS, validation_split=0.2)
    elif variant == "example2":
        names = ["output1", "output2", "output3"]
        inputs, outputs = _three_heads(keras, x, [(CLASSES, "softmax")] * 3, names)
        model = keras.Model(inputs, outputs)
        model.compile(
            loss=dict.fromkeys(names, "categorical_crossentropy"),
            optimizer="adam",
            metrics=dict.fromkeys(names, "accuracy"),
        )
        model.fit(x, dict.fromkeys(names, classes), epochs=EPOCHS, validation_split=0.2)
    else:
        raise ValueError(f"not an article example: {variant}")
