"""Fixture script: a functional model with three heads (2 epochs × 4 steps).

Two classifiers with accuracy and a regression head without a metric; one head's
name contains "loss". Recorded into ../three_heads.jsonl by kmon; see ../README.md.
"""

import keras
import numpy as np

keras.utils.set_random_seed(0)

x = np.random.rand(70, 4).astype("float32")
targets = {
    "is_positive": (x[:, :1] > 0.5).astype("float32"),
    "topic_id": (x[:, 1] * 3).astype("int32"),
    "loss_ratio": x[:, 2:3] * 2.0,
}

inputs = keras.Input((4,))
hidden = keras.layers.Dense(8, activation="relu")(inputs)
outputs = {
    "is_positive": keras.layers.Dense(1, activation="sigmoid", name="is_positive")(hidden),
    "topic_id": keras.layers.Dense(3, activation="softmax", name="topic_id")(hidden),
    "loss_ratio": keras.layers.Dense(1, name="loss_ratio")(hidden),
}
model = keras.Model(inputs, outputs)
model.compile(
    optimizer="adam",
    loss={
        "is_positive": "binary_crossentropy",
        "topic_id": "sparse_categorical_crossentropy",
        "loss_ratio": "mse",
    },
    loss_weights={"is_positive": 1.0, "topic_id": 0.5, "loss_ratio": 2.0},
    metrics={"is_positive": ["accuracy"], "topic_id": ["accuracy"]},
)

# 56 training samples after the split, batch 16: 4 steps per epoch, the last of 8.
model.fit(x, targets, epochs=2, batch_size=16, validation_split=0.2, verbose=0)
print("three heads done")
