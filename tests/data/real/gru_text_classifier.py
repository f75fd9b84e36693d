"""A text classifier on padded token ids: ``Embedding(mask_zero=True)`` then a GRU
that returns its last state, as keras-io's "Text classification with an RNN" builds
it (random tokens stand in for a tokenized corpus: a text is positive when it holds
3 or more of the 50 most common words). The GRU consumes the mask: no mask reaches
the output, so accuracy counts every text. Through its first two epochs the model
predicts the majority class for every text; by its last it no longer does."""

import keras
import numpy as np

keras.utils.set_random_seed(5)
rng = np.random.default_rng(5)
texts, max_length, vocabulary = 3000, 40, 500
lengths = rng.integers(5, max_length, size=texts)
x = np.zeros((texts, max_length), dtype="int32")
y = np.zeros(texts, dtype="int32")
for i, length in enumerate(lengths):
    tokens = rng.integers(1, vocabulary, size=length)
    x[i, :length] = tokens
    y[i] = int((tokens < 50).sum() >= 3)

model = keras.Sequential(
    [
        keras.Input((max_length,), dtype="int32"),
        keras.layers.Embedding(vocabulary, 32, mask_zero=True),
        keras.layers.GRU(32),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=64, epochs=4, validation_split=0.15, verbose=2)
predicted = model.predict(x, verbose=0)[:, 0] < 0.5
print(f"texts predicted negative: {predicted.mean():.3f} (labels: {(y == 0).mean():.3f})")
