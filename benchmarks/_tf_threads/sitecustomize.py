"""Puts TensorFlow on ``KMON_BENCH_TF_THREADS`` intra-op and inter-op threads in
every process the training-overhead benchmark starts with this folder on
``PYTHONPATH``, before anything runs a TensorFlow op: plain ``python script.py``
and ``kmon train script.py`` alike (kmon imports TensorFlow before it runs the
script, so the script could not do it in time itself). The script checks it.
"""

import os

_threads = os.environ.get("KMON_BENCH_TF_THREADS")
if _threads:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(int(_threads))
    tf.config.threading.set_inter_op_parallelism_threads(int(_threads))
