// Browser client of the voice runtime (docs/protocol.md, version 1).
//
// Microphone -> AudioWorklet (capture-worklet.js) -> 16 kHz s16le frames over the WebSocket; end of turn by a
// simple energy VAD; 24 kHz s16le replies played with Web Audio; barge-in (speaking over the reply stops playback
// at once and, while the turn is in flight, sends `barge_in`); an application heartbeat; per-turn TTFA measured
// with performance.now() as the memo defines it: last mic frame sent before end of turn -> first audio frame
// received. `window.voiceClient` exposes the state for tests and the console.
"use strict";

const INPUT_RATE = 16000;
const OUTPUT_RATE = 24000;
const FRAME_SAMPLES = 320; // 20 ms at 16 kHz
const SEND_FRAMES = 5; // batch 5 frames (100 ms, 3200 bytes) per WebSocket message while speaking

// Energy VAD: speech starts after START_FRAMES loud frames, ends after HANGOVER_MS of quiet. The threshold
// adapts to the noise floor; during playback a louder onset is required (speaker echo must not barge in).
const VAD = { minThreshold: 0.015, floorFactor: 3.0, startFrames: 3, bargeFrames: 5, hangoverMs: 500, preRollFrames: 10 };
const HEARTBEAT_MS = 30000;

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

const client = {
  state: "disconnected", // disconnected | connecting | ready | listening | replying
  sessionId: null,
  turns: [], // {turn, turnId, variant, phase, ttfaMs, serverTtfaMs, reason, audioBytes}
  stats: { framesSent: 0, audioFramesReceived: 0, audioBytesReceived: 0, chunksScheduled: 0, chunksPlayed: 0,
           bargeIns: 0, bargeInsSent: 0, playbackStops: 0, sourcesAfterBargeIn: null, playingAfterBargeIn: null, lastStopLatencyMs: null, heartbeatRttMs: null,
           errors: [] },
  playing: false,
  log: [],
};
window.voiceClient = client;

let ws = null;
let audioCtx = null;
let micNode = null;
let mediaStream = null;
let heartbeatTimer = null;
let heartbeatSeq = 0;
let heartbeatSentAt = new Map();

// Turn state.
let speaking = false;
let loudRun = 0;
let quietMs = 0;
let noiseFloor = 0.005;
let preRoll = [];
let pending = []; // frames waiting to be batched into one message
let lastFrameSentAt = null; // performance.now() of the last mic frame sent in the current turn
let awaitingFirstAudio = false;
let turnInFlight = false; // end_turn sent (or barge-in next turn) and turn_end not yet received
let current = null; // the turn being replied to

// Playback state.
let nextPlayTime = 0;
const sources = new Set();

function logLine(text) {
  const line = `${(performance.now() / 1000).toFixed(2)}s ${text}`;
  client.log.push(line);
  const el = $("log");
  if (el) {
    el.textContent = client.log.slice(-12).join("\n");
  }
}

function setState(state) {
  client.state = state;
  $("state").textContent = state;
  document.body.dataset.state = state;
}

function render() {
  const s = client.stats;
  $("stat-sent").textContent = s.framesSent;
  $("stat-received").textContent = `${s.audioFramesReceived} frames / ${(s.audioBytesReceived / 1024).toFixed(1)} KiB`;
  $("stat-played").textContent = `${s.chunksPlayed} / ${s.chunksScheduled}`;
  $("stat-barge").textContent = `${s.bargeIns} (sent ${s.bargeInsSent}, stop ${s.lastStopLatencyMs === null ? "-" : s.lastStopLatencyMs.toFixed(1) + " ms"})`;
  $("stat-heartbeat").textContent = s.heartbeatRttMs === null ? "-" : `${s.heartbeatRttMs.toFixed(1)} ms`;
  $("playing").textContent = client.playing ? "playing" : "silent";
  document.body.dataset.playing = String(client.playing);
  const last = client.turns[client.turns.length - 1];
  $("variant").textContent = last && last.variant ? last.variant : "-";
  // The latest turn that has a TTFA (the newest one is still listening until its first audio frame arrives).
  const measured = client.turns.filter((t) => t.ttfaMs !== null && t.ttfaMs !== undefined).pop();
  $("ttfa").textContent = measured ? `${measured.ttfaMs.toFixed(1)} ms` : "-";
  const body = $("turns");
  body.replaceChildren(...client.turns.slice(-20).reverse().map((t) => {
    const tr = document.createElement("tr");
    tr.className = `turn reason-${t.reason || "pending"}`;
    tr.dataset.variant = t.variant || "";
    const cells = [t.turn, t.variant || "-", t.phase || "-", fmt(t.ttfaMs), fmt(t.serverTtfaMs), t.reason || "…",
                   (t.audioBytes / 48000).toFixed(2) + " s"];
    for (const c of cells) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.appendChild(td);
    }
    return tr;
  }));
}

function fmt(ms) {
  return ms === null || ms === undefined ? "-" : `${ms.toFixed(1)} ms`;
}

// ---- playback ---------------------------------------------------------------------------------------------

function playPcm(buffer) {
  const samples = new Int16Array(buffer);
  if (samples.length === 0) return;
  const audio = audioCtx.createBuffer(1, samples.length, OUTPUT_RATE);
  const channel = audio.getChannelData(0);
  for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 0x8000;
  const src = audioCtx.createBufferSource();
  src.buffer = audio;
  src.connect(audioCtx.destination);
  const startAt = Math.max(audioCtx.currentTime + 0.02, nextPlayTime);
  nextPlayTime = startAt + audio.duration;
  src.onended = () => {
    if (sources.delete(src) && !src.stopped) client.stats.chunksPlayed += 1;
    if (sources.size === 0) {
      client.playing = false;
    }
    render();
  };
  sources.add(src);
  src.start(startAt);
  client.stats.chunksScheduled += 1;
  client.playing = true;
}

function stopPlayback() {
  const t0 = performance.now();
  for (const src of sources) {
    src.stopped = true;
    try { src.stop(); } catch (e) { /* already stopped */ }
  }
  sources.clear();
  nextPlayTime = 0;
  client.playing = false;
  client.stats.playbackStops += 1;
  client.stats.lastStopLatencyMs = performance.now() - t0;
}

// ---- capture and VAD --------------------------------------------------------------------------------------

function onMicFrame(pcm, rms) {
  if (!ws || ws.readyState !== WebSocket.OPEN || client.state === "connecting") return;
  const loud = rms > Math.max(VAD.minThreshold, noiseFloor * VAD.floorFactor);
  if (!loud && !speaking) noiseFloor = 0.95 * noiseFloor + 0.05 * rms; // track the room's noise floor
  const needed = client.playing || turnInFlight ? VAD.bargeFrames : VAD.startFrames;
  if (!speaking) {
    preRoll.push(pcm);
    if (preRoll.length > VAD.preRollFrames) preRoll.shift();
    loudRun = loud ? loudRun + 1 : 0;
    if (loudRun >= needed) startSpeaking();
    return;
  }
  sendFrame(pcm);
  quietMs = loud ? 0 : quietMs + (FRAME_SAMPLES / INPUT_RATE) * 1000;
  if (quietMs >= VAD.hangoverMs) endTurn();
}

function startSpeaking() {
  if (client.playing || turnInFlight) bargeIn();
  speaking = true;
  quietMs = 0;
  loudRun = 0;
  setState("listening");
  for (const frame of preRoll) sendFrame(frame);
  preRoll = [];
}

function sendFrame(pcm) {
  pending.push(pcm);
  if (pending.length >= SEND_FRAMES) flushFrames();
}

function flushFrames() {
  if (pending.length === 0) return;
  const total = pending.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const b of pending) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  pending = [];
  ws.send(out.buffer);
  lastFrameSentAt = performance.now();
  client.stats.framesSent += 1;
}

function endTurn() {
  flushFrames();
  speaking = false;
  ws.send(JSON.stringify({ type: "end_turn" }));
  awaitingFirstAudio = true;
  turnInFlight = true;
  setState("replying");
  logLine("end_turn");
}

function bargeIn() {
  const t0 = performance.now();
  stopPlayback();
  client.stats.bargeIns += 1;
  client.stats.sourcesAfterBargeIn = sources.size; // 0: nothing left scheduled to play
  client.stats.playingAfterBargeIn = client.playing;
  if (turnInFlight) {
    if (current) current.interrupted = true; // frames still in flight for it are dropped, not played
    ws.send(JSON.stringify({ type: "barge_in" }));
    client.stats.bargeInsSent += 1;
  }
  awaitingFirstAudio = false;
  logLine(`barge-in: playback stopped in ${(performance.now() - t0).toFixed(2)} ms`);
}

// ---- WebSocket --------------------------------------------------------------------------------------------

function onMessage(event) {
  if (typeof event.data !== "string") {
    const now = performance.now();
    client.stats.audioFramesReceived += 1;
    client.stats.audioBytesReceived += event.data.byteLength;
    if (current) current.audioBytes += event.data.byteLength;
    if (awaitingFirstAudio && current && lastFrameSentAt !== null) {
      current.ttfaMs = now - lastFrameSentAt;
      awaitingFirstAudio = false;
      logLine(`first audio: TTFA ${current.ttfaMs.toFixed(1)} ms (${current.variant})`);
    }
    if (current && !current.interrupted) playPcm(event.data);
    render();
    return;
  }
  const msg = JSON.parse(event.data);
  switch (msg.type) {
    case "session":
      client.sessionId = msg.session_id;
      $("session").textContent = msg.session_id;
      setState("ready");
      logLine(`session ${msg.session_id}`);
      break;
    case "turn_start":
      current = { turn: msg.turn, turnId: msg.turn_id, variant: msg.variant,
                  phase: msg.registry ? msg.registry.phase : null, ttfaMs: null, serverTtfaMs: null,
                  reason: null, audioBytes: 0, interrupted: false };
      client.turns.push(current);
      logLine(`turn ${msg.turn} on ${msg.variant}`);
      break;
    case "turn_end": {
      const turn = client.turns.find((t) => t.turnId === msg.turn_id) || current;
      if (turn) {
        turn.reason = msg.reason;
        turn.variant = msg.variant || turn.variant;
        turn.serverTtfaMs = msg.timings ? msg.timings.ttfa_ms : null;
        turn.interrupted = msg.reason === "interrupted";
      }
      if (turn === current) {
        turnInFlight = false;
        awaitingFirstAudio = false;
      }
      if (!speaking) setState("ready");
      logLine(`turn_end ${msg.reason}`);
      break;
    }
    case "pong": {
      const sent = heartbeatSentAt.get(msg.id);
      if (sent !== undefined) {
        client.stats.heartbeatRttMs = performance.now() - sent;
        heartbeatSentAt.delete(msg.id);
      }
      break;
    }
    case "error":
      client.stats.errors.push(msg.code);
      logLine(`error ${msg.code}: ${msg.message}`);
      break;
    default:
      break;
  }
  render();
}

function heartbeat() {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  heartbeatSeq += 1;
  heartbeatSentAt.set(heartbeatSeq, performance.now());
  ws.send(JSON.stringify({ type: "ping", id: heartbeatSeq }));
}

async function start() {
  $("start").disabled = true;
  setState("connecting");
  audioCtx = new AudioContext({ latencyHint: "interactive" });
  await audioCtx.resume();
  await audioCtx.audioWorklet.addModule("capture-worklet.js");
  mediaStream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: false },
  });
  const source = audioCtx.createMediaStreamSource(mediaStream);
  micNode = new AudioWorkletNode(audioCtx, "capture-processor", {
    numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
    processorOptions: { targetRate: INPUT_RATE, frameSamples: FRAME_SAMPLES },
  });
  micNode.port.onmessage = (e) => onMicFrame(e.data.pcm, e.data.rms);
  source.connect(micNode);
  micNode.connect(audioCtx.destination); // outputs silence; keeps the worklet pulled by the graph

  openSocket(0);
  $("rate").textContent = `${audioCtx.sampleRate} Hz -> ${INPUT_RATE} Hz`;
}

// 1012 = the server is draining or the session reached its age limit: reconnect at once (docs/protocol.md);
// a refused reconnect (503 while draining) is retried a few times, then the user presses start again.
const SERVICE_RESTART = 1012;
const RECONNECT_TRIES = 5;

function openSocket(attempt) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = params.get("ws") || `${scheme}//${location.host}/ws`;
  let opened = false;
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    opened = true;
    ws.send(JSON.stringify({
      type: "start", subject: $("subject").value || "browser-user", sdk_version: "2.3.0",
      internal: $("internal").checked, token: params.get("token"),
    }));
    heartbeatTimer = setInterval(heartbeat, Number(params.get("heartbeat_ms")) || HEARTBEAT_MS);
    heartbeat();
  };
  ws.onmessage = onMessage;
  ws.onclose = (e) => {
    clearInterval(heartbeatTimer);
    logLine(`closed ${e.code} ${e.reason}`);
    const again = opened ? e.code === SERVICE_RESTART : attempt > 0 && attempt < RECONNECT_TRIES;
    if (again) {
      setState("connecting");
      turnInFlight = false;
      setTimeout(() => openSocket(opened ? 1 : attempt + 1), opened ? 0 : 200 * attempt);
      return;
    }
    setState("disconnected");
    $("start").disabled = false;
  };
}

function init() {
  if (params.get("subject")) $("subject").value = params.get("subject");
  if (params.get("internal") === "1") $("internal").checked = true;
  $("start").addEventListener("click", () => start().catch((e) => {
    client.stats.errors.push(String(e));
    logLine(`failed: ${e}`);
    setState("disconnected");
    $("start").disabled = false;
  }));
  render();
  if (params.get("autostart") === "1") $("start").click();
}

init();
