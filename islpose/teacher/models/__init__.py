"""Teacher video models by name.

Every teacher registers under a name, takes a dataclass config (``config_class``; YAML
``model_config`` maps onto it) and is a :class:`VideoTeacher`:
``forward(frames (B, T, 3, H, W), lengths (B,), text (B, L) | None) -> TeacherOutput``
with CTC ``log_probs`` (T, B, V), ``lengths`` (B,) and ``text_logits`` (B, L-1, V_text).

Example:
    >>> from islpose.teacher.models import build_teacher
    >>> model = build_teacher("dense_vit", None, vocab_size=1229, text_vocab_size=3000)  # doctest: +SKIP
"""

from __future__ import annotations

# Importing the architectures registers them.
from islpose.teacher.models import cnn_transformer, dense_vit, timesformer  # noqa: F401
from islpose.teacher.models.pretrained import load_init_weights
from islpose.teacher.models.registry import TEACHERS, build_teacher, register_teacher, teacher_config_class

__all__ = ["TEACHERS", "build_teacher", "load_init_weights", "register_teacher", "teacher_config_class"]
