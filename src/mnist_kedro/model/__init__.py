"""The CNN and the mechanics of training and using it, shared by the training
node, the prediction service and the benchmarks:

- ``network``: the network of a preset;
- ``inputs``: the ``tf.data`` input, with augmentation;
- ``callbacks``: per-epoch statistics and progress;
- ``resume``: each training run's own backup folder, to resume a killed run;
- ``prediction``: a compiled prediction call for serving;
- ``tensorflow_settings``: TensorFlow's process-wide settings.
"""
