"""When kmon imports Keras for a script: before it runs (the import then overlaps
the monitor's start), unless the script chooses its backend itself.

Keras reads ``KERAS_BACKEND`` once, as it is first imported, and Keras's own guide
has scripts set it in code, before ``import keras``::

    import os
    os.environ["KERAS_BACKEND"] = "jax"
    import keras

Under ``kmon train`` such a script trained on TensorFlow while ``python`` ran it on
JAX, had kmon imported Keras first. So for a script whose source names
``KERAS_BACKEND``, kmon waits for the script's own ``import keras`` and installs
its fit hook just after it, through wrapt's post-import hooks (wrapt: a dependency
of TensorFlow's, and well kept). Any other script, and a run with Keras already
imported, get the hook at once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import wrapt

#: What a script that chooses its backend must name (os.environ, a .env file...).
BACKEND_VARIABLE = b"KERAS_BACKEND"


def script_chooses_backend(path: str | Path | None) -> bool:
    """Whether Keras is not imported yet and the script at ``path`` names
    ``KERAS_BACKEND`` (in code, or only in a comment: waiting is right either way)."""
    if path is None or "keras" in sys.modules:
        return False
    try:
        return BACKEND_VARIABLE in Path(path).read_bytes()
    except OSError:
        return False


def after_keras_import(callback: Callable[[], None]) -> None:
    """Call ``callback()`` just after Keras is first imported, in the thread that
    imports it (at once if it already is). It stays registered for the process:
    the callback must do nothing once it is no longer wanted."""
    wrapt.register_post_import_hook(lambda module: callback(), "keras")
