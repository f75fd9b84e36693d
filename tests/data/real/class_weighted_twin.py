"""An imbalanced binary classifier trained the way the Keras guide "Imbalanced
classification: credit card fraud detection" does, with ``class_weight``, then on
with ``sample_weight``; a twin with the same initial weights takes the same batches
through ``train_on_batch``, whose losses (each batch's own, weighted as fit weighs
it) go to ``twin_losses.json`` in the working folder: the truth for kmon's. The
first fit holds out a tenth of the rows with ``validation_split``; the last gives
``steps_per_epoch`` with its arrays, so that fit() does not say how many samples it
uses."""

import json

import keras
import numpy as np

rng = np.random.default_rng(1)
x = rng.normal(size=(6000, 10)).astype("float32")
y = (x[:, 0] + 0.5 * x[:, 1] > 1.2).astype("int32")  # about 13% positive
class_weight = {0: 1.0, 1: 7.0}
sample_weight = np.where(y == 1, 5.0, 1.0).astype("float32")


def build():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.SGD(0.05), "binary_crossentropy", metrics=["accuracy"])
    return model


model, twin = build(), build()
twin.set_weights(model.get_weights())
model.fit(
    x,
    y,
    batch_size=64,
    epochs=1,
    class_weight=class_weight,
    validation_split=0.1,
    shuffle=False,
    verbose=2,
)
model.fit(x, y, batch_size=50, epochs=1, sample_weight=sample_weight, shuffle=False, verbose=2)
model.fit(
    x,
    y,
    batch_size=50,
    steps_per_epoch=120,
    epochs=1,
    sample_weight=sample_weight,
    shuffle=False,
    verbose=2,
)

as_class = np.where(y == 1, class_weight[1], class_weight[0]).astype("float32")
losses = [[], [], []]
fits = ((5400, 64, as_class), (6000, 50, sample_weight), (6000, 50, sample_weight))
for fit, (rows, size, weights) in enumerate(fits):
    for start in range(0, rows, size):
        part = slice(start, min(start + size, rows))
        logs = twin.train_on_batch(x[part], y[part], sample_weight=weights[part], return_dict=True)
        losses[fit].append(float(logs["loss"]))
with open("twin_losses.json", "w") as out:
    json.dump(losses, out)
