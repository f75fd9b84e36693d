"""A training script that forks a helper which outlives it (a watchdog, an uploader).

The child keeps fds 1 and 2, sleeps ``argv[1]`` seconds (default 5), prints one line
and exits. Under plain python the script ends at once and the child's line reaches
the terminal later.
"""

import os
import sys
import time

import keras
import numpy as np

delay = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=16, epochs=1, verbose=0)

sys.stdout.flush()
pid = os.fork()
if pid == 0:
    time.sleep(delay)
    print("child: uploaded the checkpoint", flush=True)
    os._exit(0)
print(f"script done; child {pid} still running", flush=True)
