"""The keras-io guide "The Functional API": its two larger models, shrunk to train
in seconds on synthetic data (the guide's own data are random too).

1. "Models with multiple inputs and outputs": the ticket classifier, with title,
   body and tags inputs and priority and department outputs, compiled with a
   dict of losses (two crossentropies on logits) and dict ``loss_weights``
   (department at 0.2). 250 samples in batches of 32: each epoch ends on 26.
2. "A toy ResNet model": two residual blocks on 32x32 RGB images, ten classes,
   categorical crossentropy with accuracy; 120 images in batches of 32 (the last
   batch holds 24).
"""

import keras
import numpy as np
from keras import layers

keras.utils.set_random_seed(1)

num_tags = 12  # Number of unique issue tags
num_words = 1000  # Size of vocabulary obtained when preprocessing text data
num_departments = 4  # Number of departments for predictions

title_input = keras.Input(shape=(None,), name="title")  # Variable-length sequence of ints
body_input = keras.Input(shape=(None,), name="body")  # Variable-length sequence of ints
tags_input = keras.Input(shape=(num_tags,), name="tags")  # Binary vectors of size `num_tags`

# Embed each word in the title and in the body into a 16-dimensional vector
title_features = layers.Embedding(num_words, 16)(title_input)
body_features = layers.Embedding(num_words, 16)(body_input)
# Reduce each sequence of embedded words into a single vector
title_features = layers.LSTM(16)(title_features)
body_features = layers.LSTM(8)(body_features)
# Merge all available features into a single large vector via concatenation
x = layers.concatenate([title_features, body_features, tags_input])
# Stick a logistic regression for priority prediction on top of the features
priority_pred = layers.Dense(1, name="priority")(x)
# Stick a department classifier on top of the features
department_pred = layers.Dense(num_departments, name="department")(x)

model = keras.Model(
    inputs=[title_input, body_input, tags_input],
    outputs={"priority": priority_pred, "department": department_pred},
    name="ticket_classifier",
)
model.compile(
    optimizer=keras.optimizers.RMSprop(1e-3),
    loss={
        "priority": keras.losses.BinaryCrossentropy(from_logits=True),
        "department": keras.losses.CategoricalCrossentropy(from_logits=True),
    },
    loss_weights={"priority": 1.0, "department": 0.2},
)

# Dummy input data
title_data = np.random.randint(num_words, size=(250, 10))
body_data = np.random.randint(num_words, size=(250, 20))
tags_data = np.random.randint(2, size=(250, num_tags)).astype("float32")
# Dummy target data
priority_targets = np.random.random(size=(250, 1))
dept_targets = np.random.randint(2, size=(250, num_departments))

model.fit(
    {"title": title_data, "body": body_data, "tags": tags_data},
    {"priority": priority_targets, "department": dept_targets},
    epochs=2,
    batch_size=32,
)

inputs = keras.Input(shape=(32, 32, 3), name="img")
x = layers.Conv2D(8, 3, activation="relu")(inputs)
x = layers.Conv2D(16, 3, activation="relu")(x)
block_1_output = layers.MaxPooling2D(3)(x)

x = layers.Conv2D(16, 3, activation="relu", padding="same")(block_1_output)
x = layers.Conv2D(16, 3, activation="relu", padding="same")(x)
block_2_output = layers.add([x, block_1_output])

x = layers.Conv2D(16, 3, activation="relu", padding="same")(block_2_output)
x = layers.Conv2D(16, 3, activation="relu", padding="same")(x)
block_3_output = layers.add([x, block_2_output])

x = layers.Conv2D(16, 3, activation="relu")(block_3_output)
x = layers.GlobalAveragePooling2D()(x)
x = layers.Dense(32, activation="relu")(x)
x = layers.Dropout(0.5)(x)
outputs = layers.Dense(10)(x)

model = keras.Model(inputs, outputs, name="toy_resnet")
model.compile(
    optimizer=keras.optimizers.RMSprop(1e-3),
    loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    metrics=["acc"],
)
x_train = np.random.random((120, 32, 32, 3)).astype("float32")
y_train = keras.utils.to_categorical(np.random.randint(10, size=(120,)), 10)
model.fit(x_train, y_train, batch_size=32, epochs=2, validation_split=0.0)
