"""Batches from a keras.utils.PyDataset with worker processes, as a user with a slow
loader writes it (`use_multiprocessing=True`: the workers are forked).

Found in a user-style trial: under `kmon train` the run ended, then kmon never
exited. The forked workers had kmon's SIGTERM handler (stop the run gracefully),
so the pool's SIGTERM at exit did not end them, and kmon waited for them forever.
"""

import time

import keras
import numpy as np


class Shapes(keras.utils.PyDataset):
    def __init__(self, batches, batch_size=32, **kwargs):
        super().__init__(**kwargs)
        self.batches, self.batch_size = batches, batch_size

    def __len__(self):
        return self.batches

    def __getitem__(self, index):
        rng = np.random.default_rng(index)
        x = rng.normal(size=(self.batch_size, 16, 16, 1)).astype("float32")
        y = (x.mean(axis=(1, 2, 3)) > 0).astype("int32")
        time.sleep(0.002)  # decoding images, say
        return x, y


train = Shapes(20, workers=2, use_multiprocessing=True)
val = Shapes(5, workers=2, use_multiprocessing=True)
model = keras.Sequential(
    [
        keras.Input((16, 16, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="softmax"),
    ]
)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(train, validation_data=val, epochs=2, verbose=0)
print("finished training", flush=True)
