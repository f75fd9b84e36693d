"""Runs on disk: the JSON Lines event log (writer and validating reader), its private
files, other loggers' files, the runs folder, and which process a run is."""
