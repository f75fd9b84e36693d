"""A subclassed model whose layer adds an activity penalty with ``add_loss()``, and a
custom ``keras.metrics.Metric`` (F1 of the positive class), as the keras-io guides
"Making new layers and models via subclassing" and "Customizing what happens in
fit()" write them: the logged loss is the cross-entropy plus the penalty."""

import keras
import numpy as np
from keras import ops


class ActivityPenalty(keras.layers.Layer):
    def __init__(self, rate=0.05, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(ops.square(inputs)))
        return inputs


class F1Positive(keras.metrics.Metric):
    def __init__(self, name="f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.tp = self.add_variable(shape=(), initializer="zeros", name="tp")
        self.fp = self.add_variable(shape=(), initializer="zeros", name="fp")
        self.fn = self.add_variable(shape=(), initializer="zeros", name="fn")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.reshape(y_true, (-1,)), "float32")
        y_hat = ops.cast(ops.reshape(y_pred, (-1,)) > 0.5, "float32")
        self.tp.assign_add(ops.sum(y_true * y_hat))
        self.fp.assign_add(ops.sum((1 - y_true) * y_hat))
        self.fn.assign_add(ops.sum(y_true * (1 - y_hat)))

    def result(self):
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn + 1e-7)

    def reset_state(self):
        for variable in (self.tp, self.fp, self.fn):
            variable.assign(0.0)


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(32, activation="relu")
        self.penalty = ActivityPenalty(0.05)
        self.dropout = keras.layers.Dropout(0.2)
        self.classifier = keras.layers.Dense(1, activation="sigmoid")

    def call(self, x, training=False):
        return self.classifier(self.dropout(self.penalty(self.hidden(x)), training=training))


rng = np.random.default_rng(4)
x = rng.normal(size=(2400, 12)).astype("float32")
y = (np.sin(x[:, 0]) + x[:, 1] > 0).astype("float32")
model = Net()
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[F1Positive(), "accuracy"])
model.fit(x, y, batch_size=48, epochs=3, validation_data=(x[:400], y[:400]), verbose=2)
