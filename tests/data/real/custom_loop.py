"""The keras-io guide "Writing a training loop from scratch" (TensorFlow): an MLP
on MNIST-shaped data trained by a loop of its own with ``tf.GradientTape`` and a
``tf.function`` train step, metrics updated by hand, a validation loop after each
epoch; no ``fit()`` at all. Synthetic data instead of the MNIST download.

Under kmon only its output is monitored: the header must follow what it does
(importing TensorFlow, then running the script, never "training"), kmon must say
while it runs that no fit() has been seen and what that means, and a stop can only
interrupt it.
"""

import time

import keras
import numpy as np
import tensorflow as tf

inputs = keras.Input(shape=(784,), name="digits")
x1 = keras.layers.Dense(64, activation="relu")(inputs)
x2 = keras.layers.Dense(64, activation="relu")(x1)
outputs = keras.layers.Dense(10, name="predictions")(x2)
model = keras.Model(inputs=inputs, outputs=outputs)

optimizer = keras.optimizers.SGD(learning_rate=1e-3)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
val_acc_metric = keras.metrics.SparseCategoricalAccuracy()

batch_size = 64
rng = np.random.default_rng(0)
x_all = rng.random((1024, 784), dtype="float32")
y_all = rng.integers(0, 10, 1024)
x_train, y_train, x_val, y_val = x_all[:-256], y_all[:-256], x_all[-256:], y_all[-256:]
train_dataset = (
    tf.data.Dataset.from_tensor_slices((x_train, y_train)).shuffle(1024).batch(batch_size)
)
val_dataset = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(batch_size)


@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_fn(y, logits)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply(grads, model.trainable_weights)
    train_acc_metric.update_state(y, logits)
    return loss_value


@tf.function
def test_step(x, y):
    val_logits = model(x, training=False)
    val_acc_metric.update_state(y, val_logits)


epochs = 3
for epoch in range(epochs):
    print(f"Start of epoch {epoch}")
    start_time = time.time()
    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        loss_value = train_step(x_batch_train, y_batch_train)
        if step % 4 == 0:
            print(f"Training loss (for 1 batch) at step {step}: {float(loss_value):.4f}")
    print(f"Training acc over epoch: {float(train_acc_metric.result()):.4f}")
    train_acc_metric.reset_state()
    for x_batch_val, y_batch_val in val_dataset:
        test_step(x_batch_val, y_batch_val)
    print(f"Validation acc: {float(val_acc_metric.result()):.4f}")
    val_acc_metric.reset_state()
    print(f"Time taken: {time.time() - start_time:.2f}s")
