"""The page of `islpose serve` in a real headless Chromium (Selenium + Debian's chromium and chromedriver):
an uploaded clip gives glosses on the timeline, and the webcam path works with Chromium's fake
camera fed from a real clip."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="the [serve] extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the [serve] extra (uvicorn) is not installed")
pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="Chromium or chromedriver not found (Debian: apt-get install chromium chromium-driver)",
    ),
]


@pytest.fixture(scope="module")
def server(trained_bilstm):
    """`islpose serve`'s app on a free loopback port (uvicorn in a thread): (base URL, recognizer)."""
    import uvicorn

    from islpose.recognize import Recognizer
    from islpose.serve import ServeSettings, create_app

    rec = Recognizer.from_checkpoint(trained_bilstm[1] / "best.pt", beam=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(rec, ServeSettings(port=port))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline:
            pytest.fail("the server did not start within 30 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", rec
    srv.should_exit = True
    thread.join(10)


def _browser(*flags: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900", *flags):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _wait(driver, what, seconds=120):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.2).until(what)


def _timeline(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#track .seg")]


@pytest.mark.parametrize("clip", ["videos/webcam_signer.mp4", "poses/continuous_signing.pose"])
def test_an_uploaded_clip_shows_its_glosses_on_the_timeline(server, media_dir, clip):
    from selenium.webdriver.common.by import By

    if clip.endswith(".mp4"):
        pytest.importorskip("mediapipe")
    url, rec = server
    path = media_dir / clip
    expected = rec.recognize(path).to_dict()
    driver = _browser()
    try:
        driver.get(url + "/")
        _wait(driver, lambda d: "glosses" in d.find_element(By.ID, "model").text)
        driver.find_element(By.ID, "file").send_keys(str(path))
        _wait(
            driver,
            lambda d: (
                d.execute_script("return window.islposeState.record !== null")
                or "error" in d.find_element(By.ID, "status").get_attribute("class")
            ),
        )
        assert "error" not in driver.find_element(By.ID, "status").get_attribute("class"), driver.find_element(
            By.ID, "status"
        ).text
        assert _timeline(driver) == [s["gloss"] for s in expected["segments"]] and expected["segments"]
        assert driver.find_element(By.ID, "sentence").text == expected["glosses"]
        rows = driver.find_elements(By.CSS_SELECTOR, "#segments tbody tr")
        assert len(rows) == len(expected["segments"])
        # a click on a gloss seeks there
        last = expected["segments"][-1]
        driver.find_elements(By.CSS_SELECTOR, "#track .seg")[-1].click()
        now = driver.execute_script(
            "return window.islposeState.isVideo ? document.getElementById('video').currentTime"
            " : window.islposeState.clock.t"
        )
        assert now == pytest.approx(last["start"], abs=0.05)
        # the skeleton is drawn: some pixels of the overlay are not transparent
        drawn = driver.execute_script(
            "const c = document.getElementById('overlay'); const d = c.getContext('2d')"
            ".getImageData(0, 0, c.width, c.height).data; let n = 0;"
            "for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;"
        )
        assert drawn > 100
    finally:
        driver.quit()


def _y4m(video, out, max_frames=90) -> None:
    """Writes the first frames of ``video`` as a Y4M file (what Chromium's fake camera reads)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30
    with open(out, "wb") as f:
        n = 0
        while n < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            if n == 0:
                f.write(f"YUV4MPEG2 W{w} H{h} F{round(fps * 1000)}:1000 Ip A1:1 C420jpeg\n".encode())
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
            n += 1
    cap.release()


def test_the_webcam_path_with_a_fake_camera(server, media_dir, tmp_path):
    pytest.importorskip("mediapipe")
    from selenium.webdriver.common.by import By

    url, _ = server
    y4m = tmp_path / "camera.y4m"
    _y4m(media_dir / "videos" / "webcam_signer.mp4", y4m)
    driver = _browser(
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
    )
    try:
        driver.get(url + "/")
        driver.find_element(By.ID, "tab-cam").click()
        driver.find_element(By.ID, "cam-start").click()
        _wait(driver, lambda d: d.execute_script("return window.islposeState.live.frames") >= 5, 90)
        state = driver.execute_script("const L = window.islposeState.live; return {size: L.size, points: L.points}")
        width, height = state["size"]
        assert width * 720 == height * 540  # the clip's 540 x 720 frames reached the page as the camera
        assert sum(v is not None for v in state["points"]) >= 50  # the server found the signer's body
        assert "error" not in driver.find_element(By.ID, "status").get_attribute("class")
        driver.find_element(By.ID, "cam-stop").click()
    finally:
        driver.quit()
