"""Running a target: the session's wiring, the script runner and its fit hook, output
capture, the event bus and monitor channel, the terminal, signals and stdin."""
