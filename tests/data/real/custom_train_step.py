"""The keras-io guide "Customizing what happens in fit()", first example: a
subclassed model whose train_step updates every metric by hand, the loss tracker
included, once per step whatever the batch's size. 200 samples in batches of 32:
each epoch ends on a batch of 8."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops


class CustomModel(keras.Model):
    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


inputs = keras.Input(shape=(32,))
outputs = keras.layers.Dense(1)(inputs)
model = CustomModel(inputs, outputs)
model.compile(optimizer="adam", loss="mse", metrics=["mae"])

keras.utils.set_random_seed(1)
x = np.random.random((200, 32))
y = np.random.random((200, 1))
model.fit(x, y, epochs=3, batch_size=32)
print("mae after training", float(ops.mean(ops.abs(model.predict(x, verbose=0) - y))))
