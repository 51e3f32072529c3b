"""Recipes that turn a downloaded sign-language corpus into an islpose manifest.

One module per corpus; each recipe returns a :class:`Prepared` (utterances + what it
skipped and why) that :func:`write_prepared` writes as a manifest.
"""

from islpose.manifests.corpora.common import Prepared, normalize_gloss, normalize_glosses, write_prepared
from islpose.manifests.corpora.include import prepare_include
from islpose.manifests.corpora.isl_csltr import prepare_isl_csltr

__all__ = ["Prepared", "normalize_gloss", "normalize_glosses", "prepare_include", "prepare_isl_csltr", "write_prepared"]
