"""kmon's engine: everything but the TUI, from the Keras callback to what a view shows.

Its subpackages, each importing only those below it:

- ``headless``: the plain-text front end (the TUI, ``kmon.tui``, is the other);
- ``run``: running a script with kmon: session, runner, fit hook, output capture;
- ``alarms``: watching a fit for training failures: probes, data checks, alarm rules;
- ``training``: the callback on the training thread, and what it reads from Keras;
- ``view`` (events folded into what a front end shows) and ``log`` (runs on disk),
  independent of each other;
- at the top level, under all of them: the events, their schema and JSON text, the
  head map, errors, formatting, series buffers and the stop request. ``probes``,
  the public probe API for scripts, is the exception: names kept from ``alarms``.

Nothing here imports textual: the engine runs headless, detached and in tests.
"""
