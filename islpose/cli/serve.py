"""``islpose serve``: recognition over HTTP with a page for the browser (thin wrapper of :mod:`islpose.serve`)."""

from __future__ import annotations

from pathlib import Path

import click

from islpose.decode.config import DecoderConfig
from islpose.serve.settings import TOKEN_ENV, ServeSettings

_DEFAULTS = DecoderConfig()
_SERVE = ServeSettings()
_FILE = click.Path(exists=True, dir_okay=False)


@click.command("serve")
@click.option(
    "--checkpoint",
    required=True,
    type=_FILE,
    help="Student checkpoint (best.pt of `islpose train`) or ONNX model of `islpose export`.",
)
@click.option(
    "--host",
    default=_SERVE.host,
    show_default=True,
    help="Address to listen on; any other than loopback needs a token.",
)
@click.option("--port", default=_SERVE.port, show_default=True, help="Port to listen on.")
@click.option("--token", envvar=TOKEN_ENV, help=f"Bearer token the API asks for (or set {TOKEN_ENV}).")
@click.option("--max-upload-mb", default=_SERVE.max_upload_mb, show_default=True, help="Largest upload (413 above).")
@click.option(
    "--workers", default=_SERVE.workers, show_default=True, help="Recognitions at once; more requests wait in a queue."
)
@click.option(
    "--max-queue",
    default=_SERVE.max_queue,
    show_default=True,
    help="Requests allowed to wait for a worker (503 beyond).",
)
@click.option("--beam", default=_DEFAULTS.beam_size, show_default=True, help="Beam size; 1 = greedy decoding.")
@click.option("--lm", type=_FILE, help="Gloss n-gram LM (ARPA or KenLM binary) for beam search.")
@click.option("--lm-weight", default=_DEFAULTS.lm_weight, show_default=True, help="Weight of the LM's log10 score.")
@click.option("--word-score", default=_DEFAULTS.word_score, show_default=True, help="Score added per emitted gloss.")
@click.option("--native-logs", is_flag=True, help="Let MediaPipe's C++ log lines through to stderr.")
def serve(
    checkpoint: str,
    host: str,
    port: int,
    token: str | None,
    max_upload_mb: float,
    workers: int,
    max_queue: int,
    beam: int,
    lm: str | None,
    lm_weight: float,
    word_score: float,
    native_logs: bool,
) -> None:
    """Serve a model over HTTP, with a page to try it in a browser.

    Open http://HOST:PORT/ to upload a clip (or use the webcam) and see the skeleton,
    the recognised glosses on a timeline and download JSON, EAF or SRT. The API:
    GET /health, GET /model, POST /recognize (multipart field `file`; ?format=eaf|srt;
    ?landmarks=1), WS /live. Only this machine can connect unless --host says otherwise,
    which needs --token.

    \b
    Example:
      islpose serve --checkpoint runs/bilstm/best.pt
      curl -F file=@clip.mp4 http://127.0.0.1:8000/recognize
      ISLPOSE_TOKEN=... islpose serve --checkpoint model.onnx --host 0.0.0.0 --beam 1
    """
    from islpose._optional import require

    settings = ServeSettings(
        host=host, port=port, token=token or None, max_upload_mb=max_upload_mb, workers=workers, max_queue=max_queue
    )
    settings.check()  # before the model loads: an unsafe bind is refused at once
    uvicorn = require("uvicorn", "serve")
    from islpose.recognize import Recognizer
    from islpose.serve import create_app

    rec = Recognizer.from_checkpoint(checkpoint, beam=beam, lm=lm, lm_weight=lm_weight, word_score=word_score)
    app = create_app(rec, settings, checkpoint=checkpoint)
    if not native_logs:
        from islpose._native import native_logs_to_devnull

        native_logs_to_devnull()
    click.echo(
        f"islpose serve: {Path(checkpoint).name} on http://{_url_host(host)}:{port}/ "
        f"({'token required' if settings.token else 'no token'}; Ctrl+C stops)",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="info", ws_max_size=8 * 2**20, server_header=False)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
