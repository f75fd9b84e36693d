"""What the training process and its machine are doing: CPU, memory, GPUs, sampled
by a daemon thread into ``system`` events (see :mod:`.sampler`)."""
