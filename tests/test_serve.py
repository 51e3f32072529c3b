"""`islpose serve`: the HTTP API with FastAPI's test client, on the shared small BiLSTM and real clips."""

from __future__ import annotations

import asyncio
import json
import time
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from islpose.cli.main import cli

pytest.importorskip("fastapi", reason="the [serve] extra (fastapi) is not installed")
pytest.importorskip("multipart", reason="the [serve] extra (python-multipart) is not installed")
pytest.importorskip("httpx", reason="httpx (FastAPI's test client) is not installed")

from fastapi.testclient import TestClient

from islpose.recognize import Recognizer
from islpose.serve import ServeSettings, create_app
from islpose.serve.uploads import BodyLimit, display_name

LIMIT_MB = 2.0


@pytest.fixture(scope="module")
def checkpoint(trained_bilstm):
    return trained_bilstm[1] / "best.pt"


@pytest.fixture(scope="module")
def recognizer(checkpoint):
    return Recognizer.from_checkpoint(checkpoint, beam=1)


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Temporary files of the server go here (to check that none is left behind)."""
    import tempfile

    folder = tmp_path / "server-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def client(recognizer, private_tmp):
    with TestClient(create_app(recognizer, ServeSettings(max_upload_mb=LIMIT_MB, workers=2))) as c:
        yield c


def _post(client, name, content, query=""):
    return client.post(f"/recognize{query}", files={"file": (name, content)})


def test_health_and_model(client):
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    model = client.get("/model").json()
    assert model["architecture"] == "bilstm_optimized" and model["feature"] == "pose"
    assert model["vocabulary_size"] == len(model["glosses"]) + 1  # + blank
    assert model["decoder"]["method"] == "greedy"


@pytest.mark.slow
def test_recognize_gives_the_record_of_islpose_recognize(client, checkpoint, media_dir, tmp_path, private_tmp):
    pytest.importorskip("mediapipe")
    files = [media_dir / "poses" / "continuous_signing.pose", media_dir / "videos" / "webcam_signer.mp4"]
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        cli,
        ["recognize", *map(str, files), "--checkpoint", str(checkpoint), "--out", str(out), "--beam", "1", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    for path, line in zip(files, lines):
        got = _post(client, path.name, path.read_bytes())
        assert got.status_code == 200, got.text
        record = got.json()
        assert record["source"] == path.name  # the upload's name, not a server path
        assert {**record, "source": line["source"]} == line
        assert record["glosses"]  # the model hears something in both clips
    assert list(private_tmp.iterdir()) == []  # temporary files removed


def test_formats_and_landmarks(client, media_dir):
    from islpose.recognize.writers import srt_text

    pose = media_dir / "poses" / "continuous_signing.pose"
    record = _post(client, pose.name, pose.read_bytes(), "?landmarks=1").json()
    lm = record.pop("landmarks")
    assert len(lm["frames"]) == 130 and lm["points"] == 75 and lm["fps"] == pytest.approx(30)
    assert all(len(f) == 150 for f in lm["frames"])
    values = [v for v in lm["frames"][0] if v is not None]
    assert len(values) >= 50 and all(-2 < v < 3 for v in values)  # image-normalised (a body may leave the frame)
    srt = _post(client, pose.name, pose.read_bytes(), "?format=srt")
    assert srt.status_code == 200 and srt.text == srt_text(record)
    assert 'filename="continuous_signing.srt"' in srt.headers["content-disposition"]
    eaf = _post(client, pose.name, pose.read_bytes(), "?format=eaf")
    root = ET.fromstring(eaf.text)
    glosses = [a.text for a in root.iterfind("TIER[@TIER_ID='gloss']/ANNOTATION/ALIGNABLE_ANNOTATION/ANNOTATION_VALUE")]
    assert glosses == [s["gloss"] for s in record["segments"]]
    assert root.find("HEADER/MEDIA_DESCRIPTOR") is None  # no server path in the file
    assert _post(client, pose.name, pose.read_bytes(), "?format=pdf").status_code == 400


def _bad_uploads(media_dir):
    video = (media_dir / "videos" / "webcam_signer.mp4").read_bytes()
    pose = (media_dir / "poses" / "continuous_signing.pose").read_bytes()
    return {
        "junk video": ("clip.mp4", b"\x00\x01junk" * 100, {415, 422}),
        "junk pose": ("clip.pose", b"not a pose file at all", {422}),
        "truncated video": ("clip.mp4", video[: len(video) // 3], {422}),
        "truncated pose": ("clip.pose", pose[: len(pose) // 2], {422}),
        "empty video": ("clip.mp4", b"", {400}),
        "empty pose": ("clip.pose", b"", {400}),
        "image": ("photo.jpg", (media_dir / "images" / "full_body.jpg").read_bytes(), {415}),
        "image named as pose": ("photo.pose", (media_dir / "images" / "full_body.jpg").read_bytes(), {422}),
        "text": ("notes.txt", b"hello", {415}),
        "no suffix": ("clip", pose, {415}),
        "path name": ("../../etc/passwd", b"root:x:0:0", {415}),
        "oversized": ("big.mp4", b"\x00" * int(LIMIT_MB * 1e6 + 10), {413}),
    }


@pytest.mark.slow
def test_bad_uploads_get_a_4xx_json_error_and_the_server_stays_healthy(client, media_dir, private_tmp):
    pytest.importorskip("cv2")
    for what, (name, content, statuses) in _bad_uploads(media_dir).items():
        r = _post(client, name, content)
        assert r.status_code in statuses, (what, r.status_code, r.text)
        error = r.json()["error"]
        assert "Traceback" not in error and str(private_tmp) not in error, (what, error)
    for body, kind in (
        (b"x", "text/plain"),
        (b"--nope\r\n", "multipart/form-data; boundary=nope"),
        (b"", "multipart/form-data; boundary=b"),
    ):
        r = client.post("/recognize", content=body, headers={"content-type": kind})
        assert 400 <= r.status_code < 500 and "error" in r.json(), (body, r.text)
    assert client.post("/recognize", files={"other": ("a.pose", b"x")}).status_code == 400
    assert client.get("/health").status_code == 200
    assert list(private_tmp.iterdir()) == []


def test_an_upload_name_is_never_a_path(client, media_dir, private_tmp, tmp_path):
    pose = (media_dir / "poses" / "continuous_signing.pose").read_bytes()
    r = _post(client, "../../../../tmp/evil/..\\x.pose", pose)
    assert r.status_code == 200 and r.json()["id"] == "x" and r.json()["source"] == "x.pose"
    assert not (tmp_path.parent / "evil").exists()
    assert display_name("../../etc/passwd") == "passwd" and display_name("..") == "upload"
    assert display_name('a"b<c>.pose') == "a_b_c_.pose"
    assert list(private_tmp.iterdir()) == []


def test_the_upload_limit_stops_reading_a_body_that_crosses_it():
    """The limit holds while the body streams in: a 10 MB chunked body against a 1 MB limit is
    refused after about 1 MB has been read, without a Content-Length header."""
    chunk, reads, sent = b"\x00" * 65536, [], []

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass

    async def receive():
        reads.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": sum(reads) < 10_000_000}

    async def send(message):
        sent.append(message)

    from islpose.serve.uploads import UploadError

    with pytest.raises(UploadError) as info:
        asyncio.run(
            BodyLimit(app, 1_000_000, frozenset({"/recognize"}))(
                {"type": "http", "path": "/recognize", "headers": []}, receive, send
            )
        )
    assert info.value.status == 413 and sum(reads) < 1_100_000
    sent.clear()
    asyncio.run(
        BodyLimit(app, 1_000_000, frozenset({"/recognize"}))(
            {"type": "http", "path": "/recognize", "headers": [(b"content-length", b"5000000")]}, receive, send
        )
    )
    assert sent[0]["status"] == 413 and json.loads(sent[1]["body"])["error"].startswith("upload larger")


def test_token_guards_the_api_but_not_health(recognizer, media_dir):
    app = create_app(recognizer, ServeSettings(token="s3cret-token"))
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200 and c.get("/health").json()["auth"] is True
        assert c.get("/").status_code == 200
        assert c.get("/model").status_code == 401
        assert c.get("/model", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
        assert c.get("/model", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        pose = (media_dir / "poses" / "continuous_signing.pose").read_bytes()
        assert c.post("/recognize", files={"file": ("a.pose", pose)}).status_code == 401
        ok = c.post("/recognize", files={"file": ("a.pose", pose)}, headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200


def test_non_local_bind_needs_a_token(checkpoint, monkeypatch):
    from islpose.errors import IslposeError

    monkeypatch.delenv("ISLPOSE_TOKEN", raising=False)
    with pytest.raises(IslposeError, match="refusing to listen on 0.0.0.0 without a token"):
        ServeSettings(host="0.0.0.0").check()
    ServeSettings(host="0.0.0.0", token="long-enough").check()
    ServeSettings(host="::1").check()
    result = CliRunner().invoke(cli, ["serve", "--checkpoint", str(checkpoint), "--host", "192.168.1.5"])
    assert result.exit_code == 1 and "refusing to listen on 192.168.1.5 without a token" in result.output


def test_requests_beyond_the_workers_wait_and_beyond_the_queue_get_503(recognizer, media_dir, monkeypatch):
    import httpx

    from islpose.serve.pool import RecognitionPool

    def slow(self, path, uid, source, landmarks):
        time.sleep(0.3)
        return {"id": uid}

    monkeypatch.setattr(RecognitionPool, "_recognize", slow)
    pose = (media_dir / "poses" / "continuous_signing.pose").read_bytes()

    async def burst(workers, queue, n):
        app = create_app(recognizer, ServeSettings(workers=workers, max_queue=queue))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return await asyncio.gather(*(c.post("/recognize", files={"file": (f"{i}.pose", pose)}) for i in range(n)))

    start = time.monotonic()
    assert [r.status_code for r in asyncio.run(burst(1, 8, 4))] == [200] * 4
    assert time.monotonic() - start >= 4 * 0.3 - 0.05  # one worker: they ran one after another
    codes = sorted(r.status_code for r in asyncio.run(burst(1, 1, 4)))
    assert codes == [200, 200, 503, 503]


@pytest.mark.slow
def test_live_websocket_answers_frames_with_landmarks(client, media_dir):
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("mediapipe")
    import struct

    cap = cv2.VideoCapture(str(media_dir / "videos" / "webcam_signer.mp4"))
    frames = []
    while len(frames) < 6:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(cv2.imencode(".jpg", image)[1].tobytes())
    with client.websocket_connect("/live") as ws:
        ws.send_json({"type": "start"})
        assert ws.receive_json()["type"] == "ready"
        answers = []
        for i, jpeg in enumerate(frames):
            ws.send_bytes(struct.pack("<d", i / 30) + jpeg)
            while (msg := ws.receive_json())["type"] not in ("frame", "error"):
                pass
            answers.append(msg)
        ws.send_bytes(struct.pack("<d", 1.0) + b"not an image")
        while (bad := ws.receive_json())["type"] == "events":
            pass
        assert bad["type"] == "error"
        ws.send_json({"type": "stop"})
        assert ws.receive_json()["type"] == "events"
    assert [a["type"] for a in answers] == ["frame"] * len(frames)
    assert (answers[-1]["width"], answers[-1]["height"]) == (540, 720)
    assert sum(v is not None for v in answers[-1]["points"]) >= 2 * 25  # the body pose is found


@pytest.mark.slow
def test_live_glosses_at_the_end_are_those_of_an_upload(client, media_dir):
    """Every frame of a real clip sent losslessly over `WS /live` at its frame rate: the committed
    glosses plus those of the final flush are the glosses `POST /recognize` gives for the clip."""
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("mediapipe")
    import struct

    video = media_dir / "videos" / "webcam_signer.mp4"
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while (got := cap.read())[0]:
        frames.append(cv2.imencode(".png", got[1])[1].tobytes())
    committed = []
    with client.websocket_connect("/live") as ws:
        ws.send_json({"type": "start", "fps": fps})
        ready = ws.receive_json()
        if not ready["streaming"]:
            pytest.skip("this islpose has no streaming recogniser (Recognizer.stream)")
        for i, png in enumerate(frames):
            ws.send_bytes(struct.pack("<d", i / fps) + png)
            assert ws.receive_json()["type"] == "frame"
            events = ws.receive_json()
            committed += events["committed"]
        ws.send_json({"type": "stop"})
        final = ws.receive_json()
    assert final["final"] is True and final["partial"] == []
    glosses = [e["gloss"] for e in committed + final["committed"]]
    expected = _post(client, video.name, video.read_bytes()).json()
    assert " ".join(glosses) == expected["glosses"] and glosses
    assert all(e["start"] < e["end"] for e in committed + final["committed"])


def test_live_websocket_needs_the_token(recognizer):
    app = create_app(recognizer, ServeSettings(token="s3cret-token"))
    with TestClient(app) as c, c.websocket_connect("/live") as ws:
        ws.send_json({"type": "start", "token": "wrong-token"})
        assert ws.receive_json() == {"type": "error", "error": "missing or wrong token"}


def test_an_onnx_model_serves_the_same_record(checkpoint, client, media_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from islpose.export import export_onnx

    onnx_path = export_onnx(checkpoint, tmp_path / "student.onnx")
    pose = (media_dir / "poses" / "continuous_signing.pose").read_bytes()
    with TestClient(create_app(Recognizer.from_checkpoint(onnx_path, beam=1), checkpoint=str(onnx_path))) as c:
        model = c.get("/model").json()
        assert (model["format"], model["checkpoint"]) == ("onnx", "student.onnx")
        got = _post(c, "a.pose", pose).json()
    want = _post(client, "a.pose", pose).json()
    assert got["glosses"] == want["glosses"]
    assert [s["start"] for s in got["segments"]] == pytest.approx([s["start"] for s in want["segments"]], abs=1e-3)
