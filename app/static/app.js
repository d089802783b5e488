// Reference browser client for the realtime relay: plain ES module, no dependencies.
//
// 1. Connect: a WebSocket to this page's own origin at /realtime. Browsers cannot set
//    headers on a WebSocket, so the credential travels as the subprotocol
//    `openai-insecure-api-key.<credential>` next to `realtime` (out of URLs and logs).
//    The credential is a relay token typed in, or (recommended) a short-lived client
//    secret (`ek_...`) that the operator's backend minted for its logged-in user: the
//    page asks the backend for one on each connect (see examples/backend).
// 2. Microphone: getUserMedia -> AudioWorklet (pcm-worklet.js) -> 20 ms chunks of 24 kHz
//    pcm16 -> `input_audio_buffer.append`. The service's voice activity detection decides
//    when a turn ends and answers by itself.
// 3. Playback: assistant audio deltas are scheduled back to back on a 24 kHz AudioContext.
// 4. Barge-in: when the service hears speech, stop playback, cancel the response, and
//    truncate the playing item at the milliseconds actually played, so the model's memory
//    matches what the user heard (the relay clamps it to what it delivered).
// 5. What a person sees: a microphone level meter, who is speaking, and for each turn the
//    time from the end of the user's speech to the first audio of the reply.
//
// The GA and preview protocols name some server events differently; both names are
// handled everywhere, so the page works with whichever dialect the relay speaks. It sends
// no `session.update`: the operator's session (RELAY_SESSION) decides voice, instructions
// and input transcription (on Azure a transcription model is a deployment name that a
// page cannot know). A user's speech shows as "[voice]" unless transcription is on.

const RATE = 24000; // the protocol's pcm16 sample rate
const $ = (id) => document.getElementById(id);

// Everything the page knows, on `window` for tests and for poking at in the console.
const lines = []; // transcript lines: { role, text, node, placeholder }
const demo = (window.relayDemo = {
  state: "disconnected", // connecting | connected | closed
  dialect: null, // "GA" or "preview", detected from session.created
  get transcript() {
    return lines.map(({ role, text }) => ({ role, text }));
  },
  playedChunks: 0, // assistant audio deltas scheduled for playback
  interruptions: 0, // barge-ins that cut assistant audio short
  get playerState() {
    return player?.state ?? "none"; // "running" once the playback AudioContext plays
  },
  appendsSent: 0, // input_audio_buffer.append events sent
  truncates: [], // { itemId, audioEndMs, scheduledMs, startAt, bargeAt } sent on barge-in
  turnLatencies: [], // ms from speech_stopped to the reply's first audio, per turn
  micLevel: 0, // the last 20 ms chunk's level, 0..1
  speaker: "nobody", // "user" | "assistant" | "nobody"
  lastError: null, // { code, message } of the last relay/service `error` event
  closeCode: null,
  closeReason: null,
});

let ws = null;
let mic = null; // { context, stream } of the microphone while connected
let player = null; // the 24 kHz AudioContext assistant audio plays on
let playhead = 0; // player time at which the next audio delta starts
const playing = new Set(); // scheduled AudioBufferSourceNodes, stopped on barge-in
let responseInFlight = false;
const linesByItem = new Map(); // item id -> transcript line
let playingItem = null; // { id, startAt, scheduledMs }: the assistant item being played
let speechStoppedAt = null; // performance.now() at the end of the user's speech

// ---- status line and transcript

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function setState(state, detail = "", isError = false) {
  demo.state = state;
  const dialect = state === "connected" && demo.dialect ? ` (${demo.dialect})` : "";
  setStatus(state + dialect + (detail ? ": " + detail : ""), isError);
  const connected = state === "connected";
  $("connect").textContent = state === "closed" || state === "disconnected" ? "Connect" : "Disconnect";
  $("text").disabled = $("send").disabled = !connected;
}

// Add `text` to the line of conversation item `itemId` (a new line if none or no id).
// A placeholder line ("[voice]") is replaced by the first real text that arrives for it.
function say(itemId, role, text, { replace = false, placeholder = false } = {}) {
  let line = itemId ? linesByItem.get(itemId) : undefined;
  if (!line) {
    line = { role, text: "", node: document.createElement("p"), placeholder: false };
    line.node.className = role;
    $("transcript").append(line.node);
    lines.push(line);
    if (itemId) linesByItem.set(itemId, line);
  }
  line.text = replace || line.placeholder ? text : line.text + text;
  line.placeholder = placeholder;
  line.node.textContent = line.text; // textContent, never innerHTML: model output is untrusted
  line.node.scrollIntoView({ block: "nearest" });
}

// ---- the connection

function send(event) {
  if (ws?.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(event));
  return true;
}

function connect(token) {
  const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/realtime`;
  // Audio contexts are created here, inside the click, so autoplay rules let them run.
  player = new AudioContext({ sampleRate: RATE });
  mic = { context: new AudioContext(), stream: null }; // the device's rate; the worklet downsamples
  playhead = 0;
  demo.closeCode = demo.closeReason = demo.lastError = null;
  demo.dialect = null;
  try {
    ws = new WebSocket(url, token ? ["realtime", `openai-insecure-api-key.${token}`] : ["realtime"]);
  } catch {
    // A token with characters a subprotocol cannot carry: use the query parameter instead.
    ws = new WebSocket(`${url}?api-key=${encodeURIComponent(token)}`, ["realtime"]);
  }
  let opened = false;
  setState("connecting");

  ws.onopen = () => {
    opened = true;
    setState("connected");
    startMicrophone().catch((err) => {
      if (ws) setStatus(`connected, text only: microphone unavailable (${err.message})`, true);
    });
  };
  ws.onmessage = ({ data }) => onEvent(JSON.parse(data));
  ws.onclose = ({ code, reason }) => {
    demo.closeCode = code;
    demo.closeReason = reason;
    ws = null;
    stopAudio();
    // The relay refuses a bad token (or origin, or a full relay) with an HTTP error before
    // the upgrade; browsers hide that answer and report only 1006.
    if (!opened && code === 1006) setState("closed", "connection refused (check the token)", true);
    else setState("closed", `code ${code}${reason ? ` (${reason})` : ""}`, code !== 1000);
  };
}

function onEvent(event) {
  switch (event.type) {
    case "session.created": // GA sessions have `type` and nested `audio`; preview is flat
      demo.dialect = event.session?.type === "realtime" || event.session?.audio ? "GA" : "preview";
      setState("connected");
      break;
    case "error":
      showError(event.error ?? {});
      break;
    case "input_audio_buffer.speech_started":
      bargeIn();
      setSpeaker("user");
      break;
    case "input_audio_buffer.speech_stopped":
      speechStoppedAt = performance.now();
      setSpeaker("nobody");
      break;
    case "input_audio_buffer.committed": // a user turn ended; its transcript may follow
      say(event.item_id, "user", "[voice]", { placeholder: true });
      break;
    case "conversation.item.input_audio_transcription.delta":
      say(event.item_id, "user", event.delta ?? "");
      break;
    case "conversation.item.input_audio_transcription.completed":
      say(event.item_id, "user", event.transcript ?? "", { replace: true });
      break;
    case "response.created":
      responseInFlight = true;
      break;
    case "response.done":
      responseInFlight = false;
      break;
    case "response.output_audio_transcript.delta": // GA
    case "response.audio_transcript.delta": // preview
    case "response.output_text.delta": // GA
    case "response.text.delta": // preview
      say(event.item_id, "assistant", event.delta ?? "");
      break;
    case "response.output_audio.delta": // GA
    case "response.audio.delta": // preview
      if (speechStoppedAt !== null) showLatency(performance.now() - speechStoppedAt);
      speechStoppedAt = null;
      play(event.delta, event.item_id);
      break;
  }
}

function showError({ code = null, message = "" }) {
  // Our barge-in cancel can race the service's own (server VAD interrupts by itself).
  if (code === "response_cancel_not_active") return;
  demo.lastError = { code, message };
  setStatus(`error ${code}: ${message}`, true);
}

// ---- audio in

async function startMicrophone() {
  const current = mic;
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true }, // AEC keeps our own playback out
  });
  if (mic !== current) return stream.getTracks().forEach((track) => track.stop()); // closed meanwhile
  const { context } = current;
  current.stream = stream;
  await context.audioWorklet.addModule("/static/pcm-worklet.js");
  const worklet = new AudioWorkletNode(context, "pcm16-downsampler", { numberOfOutputs: 0 });
  worklet.port.onmessage = ({ data }) => {
    // `data` is an ArrayBuffer of 960 bytes: 20 ms of 24 kHz mono pcm16 little-endian.
    showLevel(data);
    if (send({ type: "input_audio_buffer.append", audio: toBase64(data) })) demo.appendsSent += 1;
  };
  context.createMediaStreamSource(stream).connect(worklet);
}

// ---- audio out

function play(base64, itemId) {
  const bytes = fromBase64(base64 ?? "");
  if (bytes.length < 2 || !player) return;
  const pcm = new DataView(bytes.buffer);
  const buffer = player.createBuffer(1, bytes.length >> 1, RATE);
  const samples = buffer.getChannelData(0);
  for (let i = 0; i < samples.length; i++) samples[i] = pcm.getInt16(i * 2, true) / 0x8000;
  const source = player.createBufferSource();
  source.buffer = buffer;
  source.connect(player.destination);
  // Start exactly where the previous delta ends, so deltas play gaplessly; if playback ran
  // dry, start now.
  playhead = Math.max(playhead, player.currentTime);
  if (playingItem?.id !== itemId) playingItem = { id: itemId, startAt: playhead, scheduledMs: 0 };
  source.start(playhead);
  playhead += buffer.duration;
  playingItem.scheduledMs += buffer.duration * 1000;
  playing.add(source);
  setSpeaker("assistant");
  source.onended = () => {
    playing.delete(source);
    if (playing.size === 0 && demo.speaker === "assistant") setSpeaker("nobody");
  };
  demo.playedChunks += 1;
}

function stopPlayback() {
  for (const source of playing) source.stop();
  playing.clear();
  playhead = 0;
  playingItem = null;
}

// The user started talking: silence the assistant at once, stop its response, and tell
// the model where its audio was cut: the position played, read from the audio clock
// (at most what was scheduled, which is at most what the relay delivered).
function bargeIn() {
  const item = playing.size > 0 ? playingItem : null;
  if (item) {
    demo.interruptions += 1;
    const bargeAt = player.currentTime;
    const playedMs = Math.floor(Math.min(item.scheduledMs, Math.max(0, (bargeAt - item.startAt) * 1000)));
    const truncate = { type: "conversation.item.truncate", item_id: item.id, content_index: 0, audio_end_ms: playedMs };
    stopPlayback();
    if (responseInFlight) send({ type: "response.cancel" });
    send(truncate);
    demo.truncates.push({ itemId: item.id, audioEndMs: playedMs, scheduledMs: item.scheduledMs, startAt: item.startAt, bargeAt });
    return;
  }
  stopPlayback();
  if (responseInFlight) send({ type: "response.cancel" });
}

// ---- what the page shows besides the transcript

function showLevel(chunk) {
  // RMS of the chunk's pcm16 samples, on a 0..1 scale.
  const pcm = new Int16Array(chunk);
  let sum = 0;
  for (const sample of pcm) sum += sample * sample;
  demo.micLevel = Math.min(1, Math.sqrt(sum / pcm.length) / 0x4000);
  $("level").value = demo.micLevel;
}

function setSpeaker(who) {
  demo.speaker = who;
  $("speaker").textContent = { user: "you are speaking", assistant: "assistant speaking", nobody: "quiet" }[who];
}

function showLatency(ms) {
  demo.turnLatencies.push(Math.round(ms));
  const item = document.createElement("li");
  item.textContent = `reply after ${Math.round(ms)} ms`;
  $("latencies").prepend(item);
}

function stopAudio() {
  stopPlayback();
  mic?.stream?.getTracks().forEach((track) => track.stop());
  mic?.context.close();
  player?.close();
  mic = player = null;
  responseInFlight = false;
}

// ---- base64 for binary audio

function toBase64(buffer) {
  let binary = "";
  for (const byte of new Uint8Array(buffer)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}

// ---- wiring

$("connect-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (ws) ws.close(1000, "user disconnected");
  else if ($("mode").value === "backend") connectWithSecret($("backend").value.trim());
  else connect($("token").value.trim());
});

// Ask the backend for a client secret: it knows its user from its own login cookie.
async function connectWithSecret(backend) {
  setState("connecting", "asking the backend for a client secret");
  try {
    const response = await fetch(`${backend}/client-secret`, { method: "POST", credentials: "include" });
    if (!response.ok) throw new Error(response.status === 401 ? "log in at the backend first" : `HTTP ${response.status}`);
    const { value } = await response.json();
    connect(value);
  } catch (err) {
    setState("closed", `no client secret (${err.message})`, true);
  }
}

// The mode shows the token field or the backend field; ?backend=<url> preselects it.
function showMode() {
  const backend = $("mode").value === "backend";
  $("token").hidden = backend;
  $("backend").hidden = !backend;
}
$("mode").addEventListener("change", showMode);
const backendParam = new URLSearchParams(location.search).get("backend");
if (backendParam) {
  $("mode").value = "backend";
  $("backend").value = backendParam;
}
showMode();

$("text-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text) return;
  const item = { type: "message", role: "user", content: [{ type: "input_text", text }] };
  if (send({ type: "conversation.item.create", item }) && send({ type: "response.create" })) {
    say(null, "user", text);
    $("text").value = "";
  }
});

// Ask the relay how it authenticates; with RELAY_AUTH=none no token is needed.
fetch("/healthz")
  .then((response) => response.json())
  .then(({ auth }) => {
    $("auth").textContent = `auth: ${auth}`;
    if (auth === "none") $("token").disabled = true;
  })
  .catch(() => {});
