"""The GPU teacher stage: RGB video models that learn from the videos and later teach the
pose students (``islpose distill``) through their frame-level CTC posteriors.

* :mod:`islpose.teacher.video`: decode, sample, resize; Dataset, collate, DataLoader.
* :mod:`islpose.teacher.text`: the word vocabulary of the text decoder (from the manifest).
* :mod:`islpose.teacher.models`: ``dense_vit``, ``cnn_transformer``, ``timesformer`` by name.
* :mod:`islpose.teacher.loss`: hybrid CTC + label-smoothed cross-entropy.
* :mod:`islpose.teacher.generate`: greedy text generation.
* :mod:`islpose.teacher.config`: the YAML run config (``configs/teacher_*.yaml``).
* :mod:`islpose.teacher.runs`: the config of a new run or of one to resume.
* :mod:`islpose.teacher.export_posteriors`: ``teacher_logprobs`` of any teacher into a store (one exporter).
* :mod:`islpose.data.posteriors`: that store's attributes and checks (one teacher per store).

Importing this package is light; the submodules import torch and OpenCV.
"""
