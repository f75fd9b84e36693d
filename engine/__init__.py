"""kmon's engine: events, the Keras callback, the script runner, logs and run state.

Nothing here imports textual: the engine runs headless, detached and in tests.
"""
