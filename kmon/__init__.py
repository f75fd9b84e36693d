"""kmon: a terminal training monitor for Keras 3 / TensorFlow.

``from kmon import Monitor`` gives the in-script callback (:mod:`kmon.monitor`); it
is imported on first use, so ``import kmon`` (and the command line) never imports
Keras or TensorFlow.
"""

__version__ = "0.1.0"

__all__ = ["Monitor", "__version__"]


def __getattr__(name: str):
    if name == "Monitor":
        from kmon.monitor import Monitor

        return Monitor
    raise AttributeError(f"module 'kmon' has no attribute {name!r}")
