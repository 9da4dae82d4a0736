// The Gradio app's client inference: the Translate button's JavaScript runs the model in the visitor's browser
// (cyclegan.js, ONNX Runtime Web) and fills the page's outputs itself; whenever it cannot (no WebAssembly, a
// runtime or model that fails to load, a model that runs on the server only, no answer in time) it clicks the
// hidden server button instead, and says so once.
//
// app.py loads this module in the page's <head> and calls window.cycleganApp.translate(image, model, direction),
// which returns the values of Real, Generated, Reconstructed, Seconds, PSNR, the where-it-ran line, the slider and
// the once-only note on why the browser could not.

import * as cg from "./cyclegan.js";

const TIMEOUT_MS = 8000; // runtime download and compile included; the first visit fetches 3.7 MB of WebAssembly
let setup = null, noted = false, last = null, serverRuns = 0;

function loadOnce() {
  if (!setup) {
    setup = (async () => {
      if (!cg.webAssemblyWorks()) throw new Error("this browser has no WebAssembly");
      return cg.loadModels();
    })();
  }
  return setup;
}

function fileData(canvas, name) {
  // path as well as url: the compare slider shows a value only when both are set.
  const url = canvas && canvas.toDataURL("image/png");
  return canvas && { url, path: url, orig_name: name, mime_type: "image/png",
                     meta: { _type: "gradio.FileData" } };
}

function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms))]);
}

// The server path: the hidden button's event translates on the server and fills the same outputs. The first time
// the browser fails, the page says why, once.
function toServer(reason) {
  serverRuns += 1;
  last = null;
  const note = noted || !reason ? null : `Your browser could not translate this picture (${reason}): the server does.`;
  noted = noted || Boolean(reason);
  document.querySelector("#translate-server").click();
  return [null, null, null, null, null, "Translating on the server…", null, note];
}

async function translate(image, model, direction) {
  try {
    await withTimeout(loadOnce(), TIMEOUT_MS);
  } catch (e) {
    return toServer(e.message);
  }
  if (!cg.models[model]) return toServer(null); // a model that runs on the server only (the reference zoo's)
  if (!image || !image.url) return toServer(null); // the server says what is missing
  try {
    const blob = await (await fetch(image.url)).blob();
    const file = new File([blob], image.orig_name || "upload", { type: blob.type });
    const r = await withTimeout(cg.translate(file, model, direction), TIMEOUT_MS);
    last = r;
    const name = `cyclegan-${model}-${direction}`;
    const where = `Translated in your browser (${r.threads} thread${r.threads > 1 ? "s" : ""}), in ${r.seconds.toFixed(2)} s.`;
    const real = fileData(r.real, `${name}-real.png`), fake = fileData(r.fake, `${name}-generated.png`);
    return [real, fake, fileData(r.rec, `${name}-reconstructed.png`), Math.round(r.seconds * 1000) / 1000,
            r.psnr === null ? null : Math.round(r.psnr * 100) / 100, where, [real, fake], null];
  } catch (e) {
    // A bad file: the server refuses it with its usual toast, word for word (the file is uploaded already).
    return toServer(e instanceof cg.BadImage ? null : e.message);
  }
}

// Download triptych: from the browser's own canvases after a browser translation; otherwise null, and the server
// builds the PNG.
function downloadLocal(model, direction) {
  if (!last) return false;
  cg.downloadCanvas(cg.triptych(last.real, last.fake, last.rec), `cyclegan-${model}-${direction}.png`);
  return true;
}

// The Camera tab: its controls are built once the tab's placeholder is in the page (Gradio builds tabs lazily).
async function mountCameraWhenShown() {
  const { mountCamera } = await import("./camera.js");
  const mount = (el) => { if (el && !el.dataset.mounted) { el.dataset.mounted = "1"; window.cycleganCamera = mountCamera(el); } };
  await loadOnce();
  mount(document.getElementById("cyclegan-camera"));
  new MutationObserver(() => mount(document.getElementById("cyclegan-camera")))
    .observe(document.body, { childList: true, subtree: true });
}

window.cycleganApp = { translate, downloadLocal, loadOnce, get serverRuns() { return serverRuns; } };
loadOnce().catch(() => {}); // start fetching the runtime and the models while the visitor picks a picture
mountCameraWhenShown().catch(() => {});
