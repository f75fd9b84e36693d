"""A training script that scores its model in worker processes, as many do on Linux:
``multiprocessing``'s default start method there (before Python 3.14) is fork. It
checks each worker's exit code, as a careful script does, and fails if one failed.
"""

import multiprocessing as mp
import sys

import keras
import numpy as np


def score(shard: int) -> None:
    rows = np.random.default_rng(shard).normal(size=(8, 4)).astype("float32")
    print(f"worker {shard}: mean {float(rows.mean()):.3f}", flush=True)


def main() -> None:
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)

    fork = mp.get_context("fork")
    workers = [fork.Process(target=score, args=(shard,)) for shard in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    codes = [worker.exitcode for worker in workers]
    with fork.Pool(2) as pool:
        squares = pool.map(abs, [-1, -2, -3])
    print(f"worker exit codes {codes}, pool {squares}", flush=True)
    if any(codes):
        sys.exit(f"a worker failed: exit codes {codes}")


if __name__ == "__main__":
    main()
