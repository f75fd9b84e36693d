"""What runs on the training thread and reads Keras: the callback, per-batch value
recovery, what each logged value is, the model's heads and its distribution."""
