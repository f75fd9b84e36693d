"""Folding events into what a front end shows: the run's state, its per-head board,
its pace and model segments, and explanations from its own numbers. No Keras."""
