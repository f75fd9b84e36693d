"""The keras-io example "Timeseries classification from scratch": a fully
convolutional network (three Conv1D + BatchNormalization + ReLU blocks, global
average pooling) classifying univariate series, trained with the example's
callbacks: ModelCheckpoint, ReduceLROnPlateau and EarlyStopping on val_loss.
Synthetic series (two classes: a sine with or without a step) instead of the
FordA download, fed as a tf.data pipeline, as the example's readers often do.

It exercises the ETAs: the epoch's is the one that matters with EarlyStopping, and
the fit's is only an upper bound (EarlyStopping may end the fit sooner;
ReduceLROnPlateau only changes the learning rate).
"""

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
samples, length = 320, 64
t = np.linspace(0, 4 * np.pi, length, dtype="float32")
y_all = rng.integers(0, 2, samples)
x_all = np.sin(t)[None, :] + 0.3 * rng.normal(size=(samples, length)).astype("float32")
x_all[y_all == 1, length // 2 :] += 1.0
x_all = x_all[..., None].astype("float32")  # (samples, timesteps, 1 channel)

split = int(samples * 0.8)
batch_size = 32
train_ds = (
    tf.data.Dataset.from_tensor_slices((x_all[:split], y_all[:split]))
    .shuffle(split)
    .batch(batch_size)
    .prefetch(tf.data.AUTOTUNE)
)
val_ds = tf.data.Dataset.from_tensor_slices((x_all[split:], y_all[split:])).batch(batch_size)
num_classes = len(np.unique(y_all))


def make_model(input_shape):
    input_layer = keras.layers.Input(input_shape)

    conv1 = keras.layers.Conv1D(filters=16, kernel_size=3, padding="same")(input_layer)
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)

    conv2 = keras.layers.Conv1D(filters=16, kernel_size=3, padding="same")(conv1)
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)

    conv3 = keras.layers.Conv1D(filters=16, kernel_size=3, padding="same")(conv2)
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)

    gap = keras.layers.GlobalAveragePooling1D()(conv3)
    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)
    return keras.models.Model(inputs=input_layer, outputs=output_layer)


model = make_model(input_shape=x_all.shape[1:])
epochs = 3
callbacks = [
    keras.callbacks.ModelCheckpoint("best_model.keras", save_best_only=True, monitor="val_loss"),
    keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.0001),
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, verbose=1),
]
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["sparse_categorical_accuracy"],
)
history = model.fit(train_ds, epochs=epochs, callbacks=callbacks, validation_data=val_ds, verbose=1)
model = keras.models.load_model("best_model.keras")
test_loss, test_acc = model.evaluate(val_ds, verbose=0)
print("Test accuracy", test_acc)
print("Test loss", test_loss)
