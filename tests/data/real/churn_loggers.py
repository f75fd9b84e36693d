"""A churn model as a data scientist writes it: two outputs (churn probability,
expected spend), an Embedding for the plan, Keras's own CSVLogger and TensorBoard
callbacks already in the list, a best-model checkpoint and ReduceLROnPlateau, a
validation split. Under ``kmon compare``, kmon's log, the CSV file and the
TensorBoard folder must tell the same epochs."""

import keras
import numpy as np
from keras import layers

keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)
n = 3000
x_num = rng.normal(size=(n, 12)).astype("float32")
x_plan = rng.integers(0, 20, size=(n, 1))
churn = (x_num[:, 0] + 0.5 * x_num[:, 1] + rng.normal(scale=0.8, size=n) > 1.2).astype("float32")
spend = (50 + 10 * x_num[:, 2] + 5 * rng.normal(size=n)).astype("float32")

numeric = keras.Input((12,), name="numeric")
plan = keras.Input((1,), name="plan", dtype="int32")
hidden = layers.Concatenate()([numeric, layers.Flatten()(layers.Embedding(20, 4)(plan))])
hidden = layers.Dense(64, activation="relu")(hidden)
hidden = layers.Dropout(0.2)(hidden)
hidden = layers.Dense(32, activation="relu")(hidden)
model = keras.Model(
    [numeric, plan],
    [layers.Dense(1, activation="sigmoid", name="churn")(hidden), layers.Dense(1, name="spend")(hidden)],
)
model.compile(
    optimizer=keras.optimizers.Adam(1e-3),
    loss={"churn": "binary_crossentropy", "spend": "mse"},
    loss_weights={"churn": 1.0, "spend": 0.01},
    metrics={"churn": ["accuracy", keras.metrics.AUC(name="auc")], "spend": ["mae"]},
)
callbacks = [
    keras.callbacks.CSVLogger("history.csv"),
    keras.callbacks.TensorBoard(log_dir="tb"),
    keras.callbacks.ModelCheckpoint(
        "best.keras", monitor="val_churn_auc", mode="max", save_best_only=True
    ),
    keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.5),
]
model.fit(
    {"numeric": x_num, "plan": x_plan},
    {"churn": churn, "spend": spend},
    validation_split=0.2,
    epochs=5,
    batch_size=64,
    callbacks=callbacks,
)
print("test churn accuracy:", round(float(model.evaluate(
    {"numeric": x_num, "plan": x_plan}, {"churn": churn, "spend": spend}, verbose=0)[3]), 4))
