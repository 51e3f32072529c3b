// The islpose page: upload a clip or use the webcam; skeleton over the video, glosses on a timeline.
// Plain JavaScript, no library and nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const POSE = [[11, 12], [11, 13], [13, 15], [12, 14], [14, 16], [11, 23], [12, 24], [23, 24], [15, 17], [15, 19],
  [15, 21], [17, 19], [16, 18], [16, 20], [16, 22], [18, 20], [0, 1], [1, 2], [2, 3], [3, 7], [0, 4], [4, 5],
  [5, 6], [6, 8], [9, 10], [23, 25], [24, 26], [25, 27], [26, 28]];
const HAND = [[0, 1], [1, 2], [2, 3], [3, 4], [0, 5], [5, 6], [6, 7], [7, 8], [5, 9], [9, 10], [10, 11], [11, 12],
  [9, 13], [13, 14], [14, 15], [15, 16], [13, 17], [17, 18], [18, 19], [19, 20], [0, 17]];
const LIVE_FPS = 15;  // frames per second sent to the server (it reads them at this rate)
const COLORS = { pose: "#e5e7eb", left: "#f59e0b", right: "#22d3ee" };

const state = {
  mode: "clip", file: null, record: null, lm: null, duration: 0, isVideo: false,
  clock: { playing: false, t: 0, last: 0 },  // for .pose files (no video element)
  live: { ws: null, stream: null, points: null, committed: [], partial: [], t0: 0, frames: 0, busy: false, size: null },
  auth: false,
};
window.islposeState = state;  // read by the browser tests

function token() { return $("token").value.trim(); }
function headers() { return state.auth && token() ? { Authorization: "Bearer " + token() } : {}; }
function setStatus(text, kind = "", spin = false) {
  const el = $("status");
  el.className = "status " + kind;
  el.innerHTML = (spin ? '<span class="spin"></span>' : "") + escapeHtml(text);
}
function escapeHtml(s) { return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
function fmt(t) { const m = Math.floor(t / 60); return m + ":" + (t - 60 * m).toFixed(1).padStart(4, "0"); }

async function loadModel() {
  try {
    const health = await (await fetch("/health")).json();
    state.auth = !!health.auth;
    state.maxUpload = health.max_upload_mb * 1e6;
    $("token-row").hidden = !state.auth;
    $("token").value = localStorage.getItem("islpose-token") || "";
    $("tab-cam").disabled = !health.live;
    const res = await fetch("/model", { headers: headers() });
    if (!res.ok) { $("model").textContent = state.auth ? "model · token needed" : "model unavailable"; return; }
    const m = await res.json();
    const dec = m.decoder.method === "greedy" ? "greedy" : "beam " + m.decoder.beam + (m.decoder.lm ? " + LM" : "");
    $("model").textContent = `${m.architecture} · ${m.glosses.length} glosses · ${m.feature} features · ${dec}`;
  } catch (e) { $("model").textContent = "server unreachable"; }
}

// ---------- clip mode ----------
async function recognizeFile(file) {
  stopCamera();
  if (state.maxUpload && file.size > state.maxUpload) {
    setStatus(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB; this server takes at most ${state.maxUpload / 1e6} MB.`, "error");
    return;
  }
  state.file = file; state.record = null; state.lm = null;
  const isPose = file.name.toLowerCase().endsWith(".pose");
  state.isVideo = !isPose;
  const video = $("video");
  if (video.src) URL.revokeObjectURL(video.src);
  video.srcObject = null;
  if (state.isVideo) { video.src = URL.createObjectURL(file); video.load(); } else { video.removeAttribute("src"); }
  $("stage").classList.toggle("empty", !state.isVideo);
  $("placeholder").textContent = isPose ? "Recognising the .pose file…" : "";
  clearResults();
  setStatus(`Recognising ${file.name}…`, "", true);
  const started = performance.now();
  const body = new FormData(); body.append("file", file, file.name);
  let res;
  try { res = await fetch("/recognize?landmarks=1", { method: "POST", body, headers: headers() }); } catch (e) {
    setStatus("The server cannot be reached.", "error"); return;
  }
  const data = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) { setStatus(data.error || `HTTP ${res.status}`, "error"); return; }
  state.lm = data.landmarks; delete data.landmarks;
  state.record = data;
  state.duration = data.duration;
  $("stage").classList.remove("empty");
  setStatus(`${data.segments.length} gloss${data.segments.length === 1 ? "" : "es"} in ${fmt(data.duration)} · ` +
    `${((performance.now() - started) / 1000).toFixed(1)} s`, "ok");
  if (!state.isVideo) fitStage(state.lm.width, state.lm.height);
  showRecord(data.segments, data.duration);
  ["dl-json", "dl-eaf", "dl-srt", "play"].forEach((id) => { $(id).disabled = false; });
}

function clearResults() {
  $("track").innerHTML = ""; $("ticks").innerHTML = "";
  $("segments").querySelector("tbody").innerHTML = "";
  $("sentence").textContent = "—"; $("sentence").classList.add("muted");
  ["dl-json", "dl-eaf", "dl-srt", "play"].forEach((id) => { $(id).disabled = true; });
}

function showRecord(segments, duration, firstPartial = Infinity) {
  const track = $("track"); track.innerHTML = "";
  const span = Math.max(duration, 0.001);
  segments.forEach((s, i) => {
    const el = document.createElement("div");
    el.className = "seg" + (s.score >= 0.6 ? " strong" : "") + (i >= firstPartial ? " partial" : "");
    el.style.left = (100 * s.start / span) + "%";
    el.style.width = (100 * Math.max(s.end - s.start, 0) / span) + "%";
    el.style.setProperty("--score", Math.max(0.15, Math.min(1, s.score)).toFixed(2));
    el.textContent = s.gloss; el.title = `${s.gloss} · ${fmt(s.start)}–${fmt(s.end)} · score ${s.score.toFixed(2)}`;
    el.dataset.index = i;
    el.addEventListener("click", (ev) => { ev.stopPropagation(); seek(s.start); });
    track.appendChild(el);
  });
  drawTicks(span);
  const sentence = segments.map((s) => s.gloss).join(" ");
  $("sentence").textContent = sentence || "no gloss recognised";
  $("sentence").classList.toggle("muted", !sentence);
  const body = $("segments").querySelector("tbody"); body.innerHTML = "";
  segments.forEach((s, i) => {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td>${i + 1}</td><td><b>${escapeHtml(s.gloss)}</b></td><td>${s.start.toFixed(2)}</td>` +
      `<td>${s.end.toFixed(2)}</td><td><span class="bar-score"><i style="width:${(100 * s.score).toFixed(0)}%"></i></span>${s.score.toFixed(2)}</td>`;
    tr.addEventListener("click", () => seek(s.start));
    body.appendChild(tr);
  });
}

function drawTicks(span) {
  const ticks = $("ticks"); ticks.innerHTML = "";
  const step = [0.5, 1, 2, 5, 10, 30, 60].find((s) => span / s <= 10) || 120;
  for (let t = 0; t <= span + 1e-6; t += step) {
    const el = document.createElement("span");
    el.className = "tick"; el.style.left = (100 * t / span) + "%"; el.textContent = t.toFixed(step < 1 ? 1 : 0) + "s";
    ticks.appendChild(el);
  }
}

function currentTime() { return state.isVideo ? $("video").currentTime : state.clock.t; }
function seek(t) {
  if (state.mode !== "clip" || !state.record) return;
  if (state.isVideo) $("video").currentTime = t; else state.clock.t = t;
}
function togglePlay() {
  if (state.isVideo) { const v = $("video"); if (v.paused) v.play(); else v.pause(); return; }
  const c = state.clock; c.playing = !c.playing; c.last = performance.now();
  if (c.playing && c.t >= state.duration) c.t = 0;
}

async function download(format) {
  if (!state.record) return;
  const name = state.record.id;
  let blob;
  if (format === "json") {
    blob = new Blob([JSON.stringify(state.record, null, 2) + "\n"], { type: "application/json" });
  } else {
    setStatus(`Writing ${format.toUpperCase()}…`, "", true);
    const body = new FormData(); body.append("file", state.file, state.file.name);
    const res = await fetch(`/recognize?format=${format}`, { method: "POST", body, headers: headers() });
    if (!res.ok) { const d = await res.json().catch(() => ({})); setStatus(d.error || `HTTP ${res.status}`, "error"); return; }
    blob = await res.blob();
    setStatus(`${format.toUpperCase()} ready`, "ok");
  }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = `${name}.${format}`; a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 5000);
}

// ---------- drawing ----------
function fitStage(w, h) { if (w > 0 && h > 0) $("stage").style.aspectRatio = `${w} / ${h}`; }

function contentBox(canvas, w, h) {
  const s = Math.min(canvas.width / w, canvas.height / h);
  return { s, ox: (canvas.width - w * s) / 2, oy: (canvas.height - h * s) / 2, w, h };
}

function drawSkeleton(ctx, box, pts) {
  if (!pts) return;
  const P = (i) => (pts[2 * i] === null || pts[2 * i + 1] === null ? null :
    [box.ox + pts[2 * i] * box.w * box.s, box.oy + pts[2 * i + 1] * box.h * box.s]);
  const lw = Math.max(1.5, box.s * box.h / 260);
  const lines = (pairs, off, color) => {
    ctx.strokeStyle = color; ctx.lineWidth = lw; ctx.beginPath();
    for (const [a, b] of pairs) { const p = P(a + off), q = P(b + off); if (p && q) { ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); } }
    ctx.stroke();
    ctx.fillStyle = color;
    const n = off === 0 ? 33 : 21;
    for (let i = 0; i < n; i++) { const p = P(i + off); if (p) { ctx.beginPath(); ctx.arc(p[0], p[1], lw * 1.1, 0, 6.283); ctx.fill(); } }
  };
  ctx.lineCap = "round";
  lines(POSE, 0, COLORS.pose); lines(HAND, 33, COLORS.left); lines(HAND, 54, COLORS.right);
}

function tick(now) {
  const canvas = $("overlay"), stage = $("stage");
  const dpr = window.devicePixelRatio || 1;
  const cw = Math.round(stage.clientWidth * dpr), ch = Math.round(stage.clientHeight * dpr);
  if (canvas.width !== cw || canvas.height !== ch) { canvas.width = cw; canvas.height = ch; }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, cw, ch);
  const show = $("show-skeleton").checked;
  if (state.mode === "clip" && state.lm) {
    const c = state.clock;
    if (!state.isVideo && c.playing) {
      c.t += (now - c.last) / 1000; c.last = now;
      if (c.t >= state.duration) { c.t = state.duration; c.playing = false; }
    }
    const t = currentTime();
    const frame = Math.min(state.lm.frames.length - 1, Math.max(0, Math.floor(t * state.lm.fps + 1e-6)));
    if (show) drawSkeleton(ctx, contentBox(canvas, state.lm.width, state.lm.height), state.lm.frames[frame]);
    updatePlayhead(t, state.duration);
    $("play").textContent = (state.isVideo ? !$("video").paused : c.playing) ? "❚❚" : "▶";
  } else if (state.mode === "cam" && state.live.size) {
    const [w, h] = state.live.size;
    if (show) drawSkeleton(ctx, contentBox(canvas, w, h), state.live.points);
    const t = (performance.now() - state.live.t0) / 1000;
    if (state.live.stream) updatePlayhead(t, Math.max(10, t));
  }
  requestAnimationFrame(tick);
}

function updatePlayhead(t, duration) {
  $("playhead").style.left = (100 * Math.min(t, duration) / Math.max(duration, 0.001)) + "%";
  $("clock").textContent = `${fmt(t)} / ${fmt(duration)}`;
  for (const el of $("track").children) {
    const s = (state.record ? state.record.segments : liveSegments())[+el.dataset.index];
    el.classList.toggle("current", !!s && t >= s.start && t < s.end);
  }
}

// ---------- webcam mode ----------
function liveSegments() { return state.live.committed.concat(state.live.partial); }

async function startCamera() {
  const L = state.live;
  state.record = null; state.lm = null; clearResults();
  try {
    L.stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (e) { setStatus("No camera: " + e.message, "error"); return; }
  const video = $("video");
  if (video.src) { URL.revokeObjectURL(video.src); video.removeAttribute("src"); }
  video.srcObject = L.stream; await video.play();
  $("stage").classList.remove("empty");
  fitStage(video.videoWidth, video.videoHeight);
  L.committed = []; L.partial = []; L.frames = 0; L.t0 = performance.now(); L.points = null;
  L.size = [video.videoWidth, video.videoHeight];
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/live`);
  ws.binaryType = "arraybuffer"; L.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "start", token: token() || null, fps: LIVE_FPS }));
  ws.onmessage = (ev) => onLiveMessage(JSON.parse(ev.data));
  ws.onclose = () => { if (L.ws === ws) setStatus("Live connection closed.", ""); };
  $("cam-start").disabled = true; $("cam-stop").disabled = false;
  setStatus("Connecting…", "", true);
}

function onLiveMessage(msg) {
  const L = state.live;
  if (msg.type === "ready") {
    setStatus(msg.streaming ? "Live: sign now" : "Live: skeleton only (this server has no streaming recogniser)", "ok");
    sendFrame();
  } else if (msg.type === "frame") {
    L.points = msg.points; L.frames += 1; L.busy = false;
    setTimeout(sendFrame, Math.max(0, 1000 / LIVE_FPS - (performance.now() - L.sentAt)));
  } else if (msg.type === "events") {
    L.committed = L.committed.concat(msg.committed); L.partial = msg.partial;
    const segs = liveSegments();
    const t = (performance.now() - L.t0) / 1000;
    showRecord(segs, Math.max(10, t, ...segs.map((s) => s.end)), L.committed.length);
  } else if (msg.type === "error") {
    setStatus(msg.error, "error"); L.busy = false; setTimeout(sendFrame, 200);
  }
}

function sendFrame() {
  const L = state.live, video = $("video");
  if (!L.ws || L.ws.readyState !== 1 || L.busy || !L.stream) return;
  const w = Math.min(480, video.videoWidth), h = Math.round(video.videoHeight * w / video.videoWidth);
  if (!w || !h) { setTimeout(sendFrame, 100); return; }
  const c = sendFrame.canvas || (sendFrame.canvas = document.createElement("canvas"));
  c.width = w; c.height = h; c.getContext("2d").drawImage(video, 0, 0, w, h);
  L.busy = true; L.sentAt = performance.now();
  const t = (L.sentAt - L.t0) / 1000;
  c.toBlob(async (blob) => {
    const img = new Uint8Array(await blob.arrayBuffer());
    const msg = new Uint8Array(8 + img.length);
    new DataView(msg.buffer).setFloat64(0, t, true); msg.set(img, 8);
    if (L.ws && L.ws.readyState === 1) L.ws.send(msg); else L.busy = false;
  }, "image/jpeg", 0.75);
}

function stopCamera() {
  const L = state.live;
  if (L.ws) { try { L.ws.send(JSON.stringify({ type: "stop" })); } catch (e) { /* closed */ } setTimeout(((ws) => () => ws.close())(L.ws), 1500); }
  L.ws = null; L.busy = false;
  if (L.stream) { L.stream.getTracks().forEach((t) => t.stop()); L.stream = null; }
  $("video").srcObject = null;
  $("cam-start").disabled = false; $("cam-stop").disabled = true;
}

function setMode(mode) {
  state.mode = mode;
  $("tab-clip").classList.toggle("active", mode === "clip"); $("tab-cam").classList.toggle("active", mode === "cam");
  $("tab-clip").setAttribute("aria-selected", mode === "clip"); $("tab-cam").setAttribute("aria-selected", mode === "cam");
  $("pane-clip").hidden = mode !== "clip"; $("pane-cam").hidden = mode !== "cam";
  if (mode === "clip") stopCamera();
  clearResults(); state.record = null; state.lm = null; setStatus("");
  $("stage").classList.add("empty");
  $("placeholder").textContent = mode === "clip" ? "Your clip will play here, with the skeleton drawn over it." : "Start the camera to sign live.";
}

// ---------- wiring ----------
$("file").addEventListener("change", (e) => { if (e.target.files[0]) recognizeFile(e.target.files[0]); });
const drop = $("drop");
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", (e) => { const f = e.dataTransfer.files[0]; if (f) recognizeFile(f); });
$("timeline").addEventListener("click", (e) => {
  const r = $("lane").getBoundingClientRect();
  seek(state.duration * Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)));
});
$("play").addEventListener("click", togglePlay);
$("tab-clip").addEventListener("click", () => setMode("clip"));
$("tab-cam").addEventListener("click", () => setMode("cam"));
$("cam-start").addEventListener("click", startCamera);
$("cam-stop").addEventListener("click", stopCamera);
$("dl-json").addEventListener("click", () => download("json"));
$("dl-eaf").addEventListener("click", () => download("eaf"));
$("dl-srt").addEventListener("click", () => download("srt"));
$("token").addEventListener("change", () => { localStorage.setItem("islpose-token", token()); loadModel(); });
$("video").addEventListener("loadedmetadata", () => { const v = $("video"); if (state.mode === "clip") fitStage(v.videoWidth, v.videoHeight); });
loadModel();
requestAnimationFrame(tick);
