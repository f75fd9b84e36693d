"""Train a small classifier on data prepared with progress lines of its own.

Written as many scripts are: a percentage redrawn in place with ``\r`` while the
shards are made, a tqdm-style bar on stderr while they load, a CSV header echoed
as read (Windows line ends), and a last message without a newline.

    python progress_lines.py OUT_DIR
"""

import os
import sys
import time

import numpy as np

out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
rng = np.random.default_rng(7)

shards = []
for shard in range(1, 5):
    shards.append(rng.normal(size=(80, 8)).astype("float32"))
    print(f"\rpreparing shard {shard}/4", end="", flush=True)
    time.sleep(0.6)  # a shard takes a while: the line shows each state
print()

header = "id,f0,f1,f2,f3,f4,f5,f6,f7,label\r\n"  # as read from a file made on Windows
print("columns:", header, end="", flush=True)

for percent in range(0, 101, 25):
    bar = "#" * (percent // 10)
    sys.stderr.write(f"\rloading {percent:3d}%|{bar:<10}|")
    sys.stderr.flush()
    time.sleep(0.1)
sys.stderr.write("\n")

import keras  # noqa: E402 - after the data, as the script's author wrote it

x = np.concatenate(shards)
y = (x[:, 0] + x[:, 1] > 0).astype("float32")
model = keras.Sequential(
    [
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=32, epochs=2, verbose=0)
print("trained on", len(x), "rows")
path = os.path.join(out_dir, "classifier.keras")
model.save(path)
sys.stdout.write(f"saved to {path}")
