"""The FastAPI application of ``islpose serve``.

Endpoints:
    ``GET /``: the page (static files shipped in the package).
    ``GET /health``: 200 ``{"status": "ok", ...}`` once the model is loaded (no token needed).
    ``GET /model``: the model (architecture, vocabulary, feature kind) and decoder settings.
    ``POST /recognize``: multipart field ``file`` (a video or ``.pose``) -> the record of
    ``islpose recognize`` (``?format=eaf|srt`` for those files, ``?landmarks=1`` adds the
    pose and hand landmarks the page draws).
    ``WS /live``: webcam frames in, landmarks and live gloss events out (see :mod:`islpose.serve.live`).

Every error is JSON ``{"error": "..."}`` with a 4xx status; an upload's name is never a path.

Example:
    >>> from islpose.recognize import Recognizer
    >>> app = create_app(Recognizer.from_checkpoint("best.pt", beam=1))  # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from pathlib import Path

from islpose._optional import require

fastapi = require("fastapi", "serve", "FastAPI")
require("multipart", "serve", "python-multipart")

from fastapi import Request  # noqa: E402 - after the check that names the extra
from fastapi.responses import FileResponse, JSONResponse, Response  # noqa: E402
from fastapi.staticfiles import StaticFiles  # noqa: E402

from islpose.recognize import Recognizer  # noqa: E402
from islpose.recognize.writers import eaf_text, srt_text  # noqa: E402
from islpose.serve.pool import RecognitionPool  # noqa: E402
from islpose.serve.settings import ServeSettings  # noqa: E402
from islpose.serve.uploads import BodyLimit, UploadError, display_name, temp_upload, upload_suffix  # noqa: E402

log = logging.getLogger("islpose.serve")
STATIC = Path(__file__).with_name("static")
CHUNK = 1 << 20
FORMATS = {"json": None, "eaf": ("application/xml", ".eaf"), "srt": ("application/x-subrip", ".srt")}


def describe_model(recognizer: Recognizer, checkpoint: str | None = None) -> dict:
    """What ``GET /model`` answers: architecture, vocabulary, feature kind and decoder settings."""
    model, config = recognizer.model, recognizer.config
    blank = model.vocab.blank_id
    return {
        "architecture": model.name,
        "format": "onnx" if type(model).__name__ == "OnnxStudent" else "pytorch",
        "checkpoint": None if checkpoint is None else Path(checkpoint).name,
        "feature": model.feature,
        "input_dim": model.input_dim,
        "subsample": model.subsample,
        "vocabulary_size": len(model.vocab),
        "glosses": [t for i, t in enumerate(model.vocab.tokens) if i != blank],
        "decoder": {
            "method": config.method,
            "beam": config.beam_size,
            "lm": config.lm is not None,
            "lm_weight": config.lm_weight,
            "word_score": config.word_score,
        },
    }


def create_app(recognizer: Recognizer, settings: ServeSettings | None = None, *, checkpoint: str | None = None):
    """The server's ASGI application.

    Args:
        recognizer: the model and decoder every request uses.
        settings: limits, token and workers (see :class:`ServeSettings`); checked here.
        checkpoint: the model file, for ``GET /model`` (its name only is shown).

    Returns:
        A FastAPI application (run it with uvicorn).
    """
    settings = settings or ServeSettings()
    settings.check()
    pool = RecognitionPool(recognizer, settings.workers, settings.max_queue)
    model_info = describe_model(recognizer, checkpoint)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        pool.close()

    app = fastapi.FastAPI(title="islpose", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.pool, app.state.settings = pool, settings

    @app.exception_handler(UploadError)
    async def _upload_error(request, exc: UploadError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(fastapi.exceptions.RequestValidationError)
    async def _invalid(request, exc):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": f"invalid request: {where}: {first.get('msg', 'invalid')}"}, status_code=422)

    @app.exception_handler(fastapi.exceptions.HTTPException)
    async def _http_error(request, exc):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    def authorised(header: str | None) -> bool:
        if not settings.token:
            return True
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), settings.token.encode())

    @app.middleware("http")
    async def _token(request: Request, call_next):
        if request.url.path in ("/model", "/recognize") and not authorised(request.headers.get("authorization")):
            return JSONResponse(
                {"error": "missing or wrong bearer token (Authorization: Bearer ...)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.get("/health")
    async def health():
        return {
            "status": "ok",
            "model": model_info["architecture"],
            "auth": bool(settings.token),
            "live": settings.live,
            "pending": pool.pending,
            "max_upload_mb": settings.max_upload_mb,
        }

    @app.get("/model")
    async def model():
        return model_info

    @app.post("/recognize")
    async def recognize(request: Request, format: str = "json", landmarks: bool = False):
        if format not in FORMATS:
            raise UploadError(400, f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        upload = await _form_file(request)
        name = display_name(upload.filename)
        with temp_upload(upload_suffix(name)) as path:
            await _save(upload, path)
            record = await pool.recognize(
                path, uid=Path(name).stem or "upload", source=name, landmarks=landmarks and format == "json"
            )
        if FORMATS[format] is None:
            return record
        media, suffix = FORMATS[format]
        text = eaf_text({**record, "source": None}) if format == "eaf" else srt_text(record)
        return Response(
            text, media_type=media, headers={"Content-Disposition": f'attachment; filename="{record["id"]}{suffix}"'}
        )

    if settings.live:
        from islpose.serve.live import add_live_route

        add_live_route(app, pool, authorised)

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Outermost: an oversized body is refused before the token check and before parsing.
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes, paths=frozenset({"/recognize"}))
    return app


async def _form_file(request):
    """The ``file`` field of a multipart request (UploadError 400/415 otherwise)."""
    from starlette.datastructures import UploadFile

    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        raise UploadError(415, "send the file as multipart/form-data in the field 'file'")
    try:
        form = await request.form(max_files=1, max_fields=8)
    except UploadError:
        raise
    except Exception as exc:  # noqa: BLE001 - starlette/multipart parse errors of a broken body
        raise UploadError(400, f"malformed multipart body ({getattr(exc, 'detail', None) or exc})") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise UploadError(400, "no file in the multipart field 'file'")
    return upload


async def _save(upload, path: Path) -> None:
    """Copies an upload to ``path``; an empty one is refused (400)."""
    size = 0
    with open(path, "wb") as out:
        while chunk := await upload.read(CHUNK):
            out.write(chunk)
            size += len(chunk)
    await upload.close()
    if size == 0:
        raise UploadError(400, f"{display_name(upload.filename)}: empty file (0 bytes)")
