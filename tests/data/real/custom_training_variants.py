"""Three models trained the ways the keras-io guides show beyond Keras's own step,
one fit each, 200 samples in batches of 32 (each epoch ends on a batch of 8):

1. "Customizing what happens in fit()", the lower-level example: trackers of the
   model's own (``self.loss_tracker = keras.metrics.Mean(name="loss")`` and a
   ``MeanAbsoluteError``), listed by a ``metrics`` property, compiled with no loss.
   The loss tracker counts steps, the mae samples.
2. The same guide's "Supporting sample_weight & class_weight": ``compute_loss``
   with the sample weights, and compiled metrics updated with them too.
3. A variational autoencoder in the spirit of keras-io's VAE example whose whole
   loss comes from ``add_loss()`` in ``call()`` (reconstruction and KL), compiled
   with no loss and fitted without targets.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

keras.utils.set_random_seed(1)
x = np.random.random((200, 32)).astype("float32")
y = np.random.random((200, 1)).astype("float32")


class OwnTrackers(keras.Model):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = keras.losses.MeanSquaredError()

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        # Listed here so that Keras resets them at the start of each epoch.
        return [self.loss_tracker, self.mae_metric]


inputs = keras.Input(shape=(32,))
model = OwnTrackers(inputs, layers.Dense(1)(inputs), name="own_trackers")
model.compile(optimizer="adam")
model.fit(x, y, epochs=2, batch_size=32)


class Weighted(keras.Model):
    def train_step(self, data):
        if len(data) == 3:
            x, y, sample_weight = data
        else:
            sample_weight = None
            x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        return {m.name: m.result() for m in self.metrics}


inputs = keras.Input(shape=(32,))
model = Weighted(inputs, layers.Dense(1)(inputs), name="weighted")
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
sample_weight = np.random.random((200,)).astype("float32")
model.fit(x, y, sample_weight=sample_weight, epochs=2, batch_size=32)


class VAE(keras.Model):
    def __init__(self, latent_dim=2):
        super().__init__(name="vae")
        self.hidden = layers.Dense(16, activation="relu")
        self.z_mean = layers.Dense(latent_dim, name="z_mean")
        self.z_log_var = layers.Dense(latent_dim, name="z_log_var")
        self.decoder_hidden = layers.Dense(16, activation="relu")
        self.reconstruction = layers.Dense(32, activation="sigmoid")
        self.seed = keras.random.SeedGenerator(1337)

    def call(self, inputs):
        hidden = self.hidden(inputs)
        z_mean, z_log_var = self.z_mean(hidden), self.z_log_var(hidden)
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed)
        z = z_mean + ops.exp(0.5 * z_log_var) * epsilon
        reconstruction = self.reconstruction(self.decoder_hidden(z))
        self.add_loss(ops.mean(ops.sum(ops.square(inputs - reconstruction), axis=1)))
        kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        self.add_loss(ops.mean(ops.sum(kl, axis=1)))
        return reconstruction


vae = VAE()
vae.compile(optimizer=keras.optimizers.Adam())
vae.fit(x, epochs=2, batch_size=32)
print("trained", vae.name)
