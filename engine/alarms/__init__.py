"""Watching a fit for training failures: the probe callback and its probes (prediction
spread, gradient norms, their time budget), the data checks at fit start, and the
alarm rules, book and advice (which import no Keras)."""
