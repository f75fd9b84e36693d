"""Watching a fit for training failures and raising alarms.

- :mod:`.probe_callback`: the Keras callback that runs everything below during a fit.
- Probes, on a fixed batch of training data: :mod:`.probe_config` (how to probe),
  :mod:`.probe_batch` (on what), :mod:`.probe_heads` (the model's heads),
  :mod:`.predictions` and :mod:`.spread` (prediction spread), :mod:`.gradients`
  (gradient norms), :mod:`.probe_budget` (when, within a share of training time),
  :mod:`.unit_watch` with :mod:`.units` and :mod:`.class_shares` (dead ReLU units and
  collapsed classes, on the prediction probe's forward pass).
- :mod:`.data_checks`: scale and NaN checks on the training data at fit start;
  :mod:`.data_alarms` raises and clears their alarms for the callback.
- :mod:`.epoch_watch`: overfitting and unstable training from the losses Keras logs
  (each batch's own loss, the epoch's training and validation losses), by the rules
  of :mod:`.loss_rules`; both plain Python. :mod:`.batch_losses` keeps the batch
  losses' tape, which :mod:`.loss_worker` settles off the training thread.
- :mod:`.baseline_watch`: the constant-predictor baselines at fit start, and the
  alarms that rest on them, for the callback.
- Plain Python, no Keras: :mod:`.kinds` (alarm names), :mod:`.rules` (thresholds and
  hysteresis), :mod:`.unit_rules` (those of dead units and collapsed classes),
  :mod:`.collapse` (collapse or not learning yet), :mod:`.learning`
  (``no_learning``), :mod:`.book` (which alarms are active), :mod:`.messages`,
  :mod:`.unit_messages` and :mod:`.advice` (what they say); plain numpy:
  :mod:`.loss_values` (Keras's losses) and :mod:`.baselines` (each head's best
  constant).
"""
