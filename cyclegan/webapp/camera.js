// Camera mode: the visitor's camera, each frame translated on their own device by the forward generator.
//
// Steady as the server's video path is: each frame's instance norms use statistics shared over the recent frames,
// and the picture is smoothed where the camera sees no change; both are one ONNX graph per generator (web.json's
// files[direction].steady, exported from cyclegan.steady.SteadyFrame). Fast: a frame arriving while one is in work
// is dropped, the working size is a control (smaller is faster; the model's native scale by default), and the
// runtime is WebGPU where the browser has an adapter and the site ships that build, else WASM threads. Snapshot and
// Record make files on the device; nothing is sent anywhere while the camera runs.
//
// mountCamera(container) builds the controls inside `container` (the static site's and the app's pages both call
// it) and returns the camera's state, which tests read (window.cycleganCamera).

import * as cg from "./cyclegan.js";

const SIZES = [96, 128, 160, 192, 224, 256, 320, 384];
const WINDOW = 30, SMOOTHING = 0.8, MOTION_LEVELS = 6; // cyclegan.config.VideoConfig's defaults
// Steady, the shared statistics follow those the generator sees as it translates each frame (the graph's `follow`):
// in a still scene they become the frame's own, as the video path's are, with no second pass. Only the first frame
// (and every frame with Steady off) measures its own with a second pass, on the whole frame: measured on a smaller
// copy, they would differ (by 10 to 20 levels of 255 in the output at 96 px). Measuring every third frame instead
// cost a fifth of the frame rate (docs/PERFORMANCE.md).
const SKIP = 16; // the graph's `small` input on a frame not measured (rate 0: whatever it measures is not used)
const FPS_SPAN_MS = 2000;

const MESSAGES = {
  NotAllowedError: "The camera was not allowed: let this page use the camera (the browser's site settings), then press Start again. Pictures still work.",
  SecurityError: "The camera was not allowed: let this page use the camera (the browser's site settings), then press Start again. Pictures still work.",
  NotFoundError: "No camera was found on this device. Pictures still work.",
  OverconstrainedError: "No camera was found on this device. Pictures still work.",
  NotReadableError: "The camera cannot be read: another program may be using it. Pictures still work.",
  AbortError: "The camera could not be started. Pictures still work.",
};
const ENDED = "The camera was disconnected (unplugged, or turned off). Press Start to try again.";
const HIDDEN = "Paused while the page is hidden.";

function element(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v; else if (k in e) e[k] = v; else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

// The working size of a w x h camera frame: about side x side pixels, aspect kept, both multiples of 4.
export function workingDims(w, h, side) {
  const s = side / Math.sqrt(w * h);
  const round4 = (v) => Math.max(16, Math.round((v * s) / 4) * 4);
  return [round4(w), round4(h)];
}

// Where a frame's time goes, summed over the frames since the last reset (milliseconds): the camera frame drawn at
// the working size and read back (capture), its pixels made a tensor, the graph on a frame that measures its own
// statistics (the first; all with Steady off) and on one that follows the shared ones (model), and the output
// drawn; `since` and `until` span them. The benchmark reads it.
function newBreakdown() {
  return { frames: 0, measured: 0, capture: 0, tensor: 0, model_measured: 0, model_plain: 0, draw: 0,
           since: performance.now(), until: performance.now() };
}

// RGBA pixels into a CHW float32 tensor in [-1, 1], and back; into buffers kept between frames.
function pixelsToTensor(data, out) {
  const n = data.length / 4;
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) out[k * n + i] = data[4 * i + k] / 127.5 - 1;
  return out;
}

// `image` comes opaque (see opaqueImage); its data is a Uint8ClampedArray, which rounds and clamps as it stores.
function tensorToPixels(x, image) {
  const d = image.data, n = d.length / 4;
  for (let k = 0; k < 3; k++) {
    const plane = x.subarray(k * n, (k + 1) * n);
    for (let i = 0, j = k; i < n; i++, j += 4) d[j] = (plane[i] + 1) * 127.5;
  }
  return image;
}

function opaqueImage(context, w, h) {
  const image = context.createImageData(w, h);
  for (let j = 3; j < image.data.length; j += 4) image.data[j] = 255;
  return image;
}

// WebGPU's ONNX Runtime where the browser has an adapter (vendor/webgpu/, its WebAssembly shipped gzipped and
// gunzipped here, so any static host serves it as it is); else the page's WASM runtime on its threads. fp32
// arithmetic either way: the weights are stored fp16 and cast up where read, and no fp16 compute is asked for, so
// instance norm never runs in fp16 (a known source of wrong output), shader-f16 or not.
async function pickRuntime() {
  let why = "";
  try {
    if (navigator.gpu && (await navigator.gpu.requestAdapter())) {
      const base = new URL("vendor/webgpu/", import.meta.url);
      const webgpu = await import(new URL("ort.webgpu.min.mjs", base).href);
      const gz = await fetch(new URL("ort-wasm-simd-threaded.asyncify.wasm.gz", base));
      if (!gz.ok) throw new Error(`the WebGPU runtime is missing (${gz.status})`);
      webgpu.env.wasm.wasmBinary = await new Response(gz.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
      webgpu.env.wasm.wasmPaths = base.href;
      return { ort: webgpu, providers: ["webgpu"], label: "WebGPU" };
    }
  } catch (e) { why = `WebGPU could not start (${e.message})`; }
  return wasmRuntime(why);
}

function wasmRuntime(why = "") {
  const threads = cg.ort.env.wasm.numThreads;
  return { ort: cg.ort, providers: ["wasm"], label: `WASM, ${threads} thread${threads > 1 ? "s" : ""}${why ? `: ${why}` : ""}` };
}

export function mountCamera(container) {
  const names = Object.keys(cg.models).filter((m) => Object.values(cg.models[m].files).some((f) => f.steady));
  const $ = {
    model: element("select", { "aria-label": "Camera model" }),
    direction: element("select", { "aria-label": "Camera direction" }),
    size: element("select", { "aria-label": "Working size" }),
    steady: element("input", { type: "checkbox", checked: true, "aria-label": "Steady" }),
    view: element("select", { "aria-label": "View" }, element("option", { value: "side", text: "Camera | translated" }),
                  element("option", { value: "alone", text: "Translated only" })),
    start: element("button", { type: "button", text: "Start camera", className: "camera-start" }),
    stop: element("button", { type: "button", text: "Stop", disabled: true }),
    flip: element("button", { type: "button", text: "Switch camera", disabled: true }),
    full: element("button", { type: "button", text: "Full screen", disabled: true }),
    snap: element("button", { type: "button", text: "Snapshot", disabled: true }),
    record: element("button", { type: "button", text: "Record", disabled: true }),
    status: element("p", { role: "status", className: "camera-status", text: "" }),
    fps: element("span", { className: "camera-fps", text: "" }),
    video: element("video", { muted: true, playsInline: true, autoplay: true, className: "camera-video" }),
    out: element("canvas", { className: "camera-out" }),
  };
  // Styled here, so that both pages (the site's stylesheet, Gradio's) show the panes alike.
  const panes = element("div", { className: "camera-panes" }, $.video, $.out);
  panes.style.cssText = "display:flex;flex-wrap:wrap;gap:.75rem;margin-top:.75rem;background:#111827;padding:.5rem;" +
                        "align-items:center;justify-content:center";
  for (const e of [$.video, $.out]) e.style.cssText = "flex:1 1 20rem;min-width:0;max-height:70vh;object-fit:contain";
  $.fps.style.fontVariantNumeric = "tabular-nums";
  container.replaceChildren(
    element("div", { className: "controls" },
            element("label", { text: "Model " }, $.model), element("label", { text: "Direction " }, $.direction),
            element("label", { text: "Size " }, $.size), element("label", { text: " Steady" }, $.steady),
            element("label", { text: "View " }, $.view)),
    element("div", { className: "controls" }, $.start, $.stop, $.flip, $.full, $.snap, $.record, $.fps),
    $.status, panes);
  const state = { running: false, busy: false, frames: 0, shown: 0, dropped: 0, presented: 0, times: [], fps: 0,
                  facing: "environment", breakdown: newBreakdown(),
                  stream: null, runtime: null, session: null, recorder: null, message: "", lastOutput: null };
  const say = (text) => { state.message = text; $.status.textContent = text; };

  const live = (m) => cg.models[m].directions.filter((d) => cg.models[m].files[d].steady);
  for (const m of names) $.model.add(new Option(`${m} (${cg.domains(cg.models[m], live(m))})`, m));
  function fillDirections() {
    const m = cg.models[$.model.value];
    $.direction.replaceChildren();
    for (const d of live($.model.value)) {
      const [src, dst] = cg.ends(d, m.domain_a, m.domain_b);
      $.direction.add(new Option(`${src} → ${dst}`, d, false, d === m.default_direction));
    }
    const native = m.native_size || 128, sizes = [...new Set([...SIZES, native])].sort((a, b) => a - b);
    $.size.replaceChildren(...sizes.map((s) => new Option(s === native ? `${s} px (native)` : `${s} px`, s, false,
                                                           s === native)));
    reset();
  }
  if (!names.length) {
    say("The camera needs a model that runs in the browser.");
    $.start.disabled = true;
    return state;
  }
  fillDirections();

  function reset() { state.stats = null; state.previous = null; state.frames = 0; state.dims = null; }
  $.model.addEventListener("change", async () => { fillDirections(); if (state.running) await use(); });
  $.direction.addEventListener("change", async () => { reset(); if (state.running) await use(); });
  $.size.addEventListener("change", reset);
  $.steady.addEventListener("change", reset);
  $.view.addEventListener("change", () => { $.video.hidden = $.view.value === "alone"; });

  // Every camera graph the page offers is loaded before the camera starts, so that changing the model or the
  // direction while it runs asks nothing of the network.
  const sessions = (runtime) => Promise.all(names.flatMap((m) => live(m).map((d) =>
    cg.session(m, d, "steady", runtime.ort, runtime.providers))));
  async function prepare() {
    state.runtime = state.runtime || await pickRuntime();
    try {
      await sessions(state.runtime);
    } catch (e) {
      if (state.runtime.label === "WebGPU") { // an adapter that cannot run the models: the WASM runtime instead
        state.runtime = wasmRuntime("WebGPU could not run the models");
        await sessions(state.runtime);
      } else throw e;
    }
    await use();
  }
  async function use() {
    state.session = await cg.session($.model.value, $.direction.value, "steady", state.runtime.ort, state.runtime.providers);
  }

  async function start() {
    say("Starting the camera…");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say(window.isSecureContext ? "This browser cannot use a camera here. Pictures still work." :
        "The camera needs a secure page (https, or localhost). Pictures still work.");
      return;
    }
    try {
      await prepare(); // the model's files are fetched now, before the camera runs: nothing is sent while it does
      state.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: state.facing } }, audio: false });
    } catch (e) {
      say(MESSAGES[e.name] || `The camera could not be started (${e.message}). Pictures still work.`);
      return;
    }
    const track = state.stream.getVideoTracks()[0];
    track.addEventListener("ended", () => { stop(); say(ENDED); });
    $.video.srcObject = state.stream;
    await $.video.play().catch(() => {});
    state.running = true;
    state.presented = 0;
    reset();
    for (const b of [$.stop, $.flip, $.full, $.snap, $.record]) b.disabled = false;
    $.start.disabled = true;
    say(`Live, on your device (${state.runtime.label}).`);
    schedule();
  }

  function stop() {
    state.running = false;
    if (state.recorder && state.recorder.state !== "inactive") state.recorder.stop();
    if (state.stream) for (const t of state.stream.getTracks()) t.stop();
    state.stream = null;
    $.video.srcObject = null;
    for (const b of [$.stop, $.flip, $.full, $.snap, $.record]) b.disabled = true;
    $.start.disabled = false;
    $.fps.textContent = "";
    say("Stopped.");
  }

  // Each camera frame offers itself; one that comes while another is in work is dropped (never a backlog). Frames
  // the browser presented while the page was busy never offer themselves at all: `dropped` counts them too, from
  // the video's count of presented frames.
  function schedule() {
    if (!state.running) return;
    const next = (now, meta) => {
      const presented = meta && meta.presentedFrames ? meta.presentedFrames : state.presented + 1;
      if (state.presented) state.dropped += Math.max(0, presented - state.presented - 1);
      state.presented = presented;
      // One that comes while a frame is in work is taken as soon as that one is done (the camera's latest frame,
      // drawn then), not at the next callback: waiting for it cost up to a camera frame's time (33 ms) each time.
      if (state.busy) { state.dropped++; state.pending = true; } else step();
      schedule();
    };
    if ($.video.requestVideoFrameCallback) $.video.requestVideoFrameCallback(next);
    else requestAnimationFrame(next);
  }

  async function step() {
    if (!state.running || document.hidden || !$.video.videoWidth) return;
    state.busy = true;
    try {
      const [w, h] = workingDims($.video.videoWidth, $.video.videoHeight, Number($.size.value));
      if (!state.dims || state.dims[0] !== w || state.dims[1] !== h) {
        state.dims = [w, h];
        state.work = cg.canvas(w, h);
        $.out.width = w; $.out.height = h;
        state.image = opaqueImage($.out.getContext("2d"), w, h);
        state.stats = null; state.previous = null; state.frames = 0;
      }
      const t0 = performance.now();
      const g = state.work.getContext("2d", { willReadFrequently: true });
      g.drawImage($.video, 0, 0, w, h);
      const pixels = g.getImageData(0, 0, w, h).data;
      const t1 = performance.now();
      const x = pixelsToTensor(pixels, new Float32Array(3 * w * h));
      const t2 = performance.now();
      state.frames++;
      const steady = $.steady.checked, first = state.previous === null;
      const measure = !steady || first;
      const meta = cg.models[$.model.value].files[$.direction.value];
      const T = state.runtime.ort.Tensor, one = (v) => new T("float32", Float32Array.of(v), [1]);
      const feeds = {
        x: new T("float32", x, [1, 3, h, w]),
        small: measure ? new T("float32", x, [1, 3, h, w]) : new T("float32", new Float32Array(3 * SKIP * SKIP), [1, 3, SKIP, SKIP]),
        stats: new T("float32", state.stats || new Float32Array(meta.stats_size), [meta.stats_size]),
        rate: one(measure ? 1 : 0),
        // The shared statistics: the mean of those seen so far, then a running mean over about WINDOW frames.
        follow: one(measure ? 0 : Math.max(1 / state.frames, 1 / WINDOW)),
        previous_x: new T("float32", first ? x : state.previous[0], [1, 3, h, w]),
        previous_y: new T("float32", first ? x : state.previous[1], [1, 3, h, w]),
        smoothing: one(steady && !first ? SMOOTHING : 0), motion_levels: one(MOTION_LEVELS),
      };
      const result = await state.session.run(feeds);
      const t3 = performance.now();
      const y = result.output.data;
      state.stats = result.new_stats.data;
      state.previous = [x, y];
      if (!state.running) return;
      $.out.getContext("2d").putImageData(tensorToPixels(y, state.image), 0, 0);
      const b = state.breakdown, t4 = performance.now();
      b.frames++; b.until = t4; b.capture += t1 - t0; b.tensor += t2 - t1; b.draw += t4 - t3;
      if (measure) { b.measured++; b.model_measured += t3 - t2; } else b.model_plain += t3 - t2;
      state.shown++;
      state.lastOutput = state.shown;
      const now = performance.now();
      state.times.push(now);
      while (state.times.length && now - state.times[0] > FPS_SPAN_MS) state.times.shift();
      if (state.times.length > 1) state.fps = (1000 * (state.times.length - 1)) / (now - state.times[0]);
      $.fps.textContent = `${state.fps.toFixed(1)} frames/s at ${w}×${h}`;
    } catch (e) {
      stop();
      say(`The camera's translation failed (${e.message}). Pictures still work.`);
    } finally {
      state.busy = false;
      if (state.pending && state.running) { state.pending = false; state.dropped--; setTimeout(step, 0); }
    }
  }

  function snapshot() {
    const [w, h] = state.dims || [$.out.width, $.out.height];
    const pair = cg.triptych(cg.drawn($.video, w, h), $.out);
    cg.downloadCanvas(pair, `cyclegan-camera-${$.model.value}-${$.direction.value}.png`);
  }

  function record() {
    if (state.recorder && state.recorder.state === "recording") { state.recorder.stop(); return; }
    const chunks = [], stream = $.out.captureStream(30);
    const type = ["video/webm;codecs=vp9", "video/webm;codecs=vp8", "video/webm"].find((t) => MediaRecorder.isTypeSupported(t));
    state.recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
    state.recorder.addEventListener("dataavailable", (e) => { if (e.data.size) chunks.push(e.data); });
    state.recorder.addEventListener("stop", () => {
      $.record.textContent = "Record";
      const a = element("a", { href: URL.createObjectURL(new Blob(chunks, { type: "video/webm" })),
                               download: `cyclegan-camera-${$.model.value}-${$.direction.value}.webm` });
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 30000);
    });
    state.recorder.start(250);
    $.record.textContent = "Stop recording";
  }

  $.start.addEventListener("click", start);
  $.stop.addEventListener("click", stop);
  $.flip.addEventListener("click", async () => {
    state.facing = state.facing === "environment" ? "user" : "environment";
    stop(); await start();
  });
  $.full.addEventListener("click", () => (panes.requestFullscreen ? panes.requestFullscreen() : null));
  $.snap.addEventListener("click", snapshot);
  $.record.addEventListener("click", record);
  document.addEventListener("visibilitychange", () => {
    if (!state.running) return;
    if (document.hidden) say(HIDDEN); else say(`Live, on your device (${state.runtime.label}).`);
  });
  state.start = start; state.stop = stop;
  state.resetBreakdown = () => { state.breakdown = newBreakdown(); };
  return state;
}
