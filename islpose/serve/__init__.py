"""Recognition over HTTP: ``islpose serve`` (FastAPI + uvicorn, ``pip install 'islpose[serve]'``).

:func:`create_app` builds the ASGI application around a :class:`~islpose.recognize.Recognizer`;
:class:`ServeSettings` holds where it listens and what it accepts. The page at ``/`` is
static files in ``islpose/serve/static`` (nothing is fetched from elsewhere).

Example:
    >>> from islpose.recognize import Recognizer
    >>> from islpose.serve import ServeSettings, create_app
    >>> app = create_app(Recognizer.from_checkpoint("best.pt"), ServeSettings(workers=2))  # doctest: +SKIP
"""

from islpose.serve.settings import ServeSettings


def create_app(*args, **kwargs):
    """See :func:`islpose.serve.app.create_app` (imported on use: FastAPI is an optional extra)."""
    from islpose.serve.app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["ServeSettings", "create_app"]
