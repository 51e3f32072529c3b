"""Error types. An :class:`IslposeError` is a user error: the CLI prints its message as
one line on stderr and exits 1, without a traceback (unless ``--debug``)."""


class IslposeError(Exception):
    """A problem with the user's input (files, options, data), explained in the message."""


class ManifestError(IslposeError):
    """A manifest that cannot be read or does not validate."""


class StoreError(IslposeError):
    """A feature store that cannot be opened, read or written as asked."""


class VocabularyError(IslposeError):
    """A token file or gloss sequence that does not fit the vocabulary."""


class SourceError(IslposeError):
    """An input file (a video, a ``.pose`` file) that cannot be used; the message names
    the file and the reason. The extraction lists it and goes on with the others."""
