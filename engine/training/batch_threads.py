"""Which thread Keras calls a callback's batch-end hooks on, for the backend in use.

TensorFlow calls ``on_train_batch_end`` on the training thread, between two steps,
in step order: a callback can keep a plain list there and swap it, and the probes
can read the losses off the monitor's tapes at their looks. Torch and JAX call it
from a thread pool when every callback is ``async_safe`` (kmon's are): hooks may
run out of order and on several threads at once (checked on Keras 3.15:
``tests/engine/test_batch_tapes_pool.py``, ``tests/e2e/test_distribute.py``).
"""

from __future__ import annotations

import keras


def batch_ends_on_training_thread() -> bool:
    """Whether Keras calls batch-end hooks on the training thread, in order."""
    return keras.backend.backend() == "tensorflow"
