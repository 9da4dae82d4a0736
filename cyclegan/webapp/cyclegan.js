// CycleGAN in the browser: the generators run in ONNX Runtime Web (WebAssembly), on the visitor's own device.
//
// The same steps as the server's Translator: EXIF orientation, the long side fitted to MAX_SIDE, the model's
// native scale, padding to a multiple of 4, the generator, the result back at the picture's size, and the
// reconstruction from the unrounded translation. One difference: resizing uses the canvas's high-quality
// smoothing, not Lanczos, so pictures that are resized differ from the server's by a level or two.
//
// window.cyclegan is the page's API: loadModels() (models.json: the models and the server's upload limits),
// translate(file, model, direction), run(...) (one generator on a CHW Float32Array, for tests), models, limits.
// index.html (the static site) and gradio-client.js (the app's page) wire it to their pages.

import * as ort from "./vendor/ort.wasm.min.mjs";

// The server's limits (cyclegan.config.UploadLimits.page()), as models.json gives them; its defaults until it is read.
export const limits = { maxSide: 512, maxBytes: 20 * 1048576, maxPixels: 30000000,
                        formats: ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"] };
const BASE = new URL(".", import.meta.url);

ort.env.wasm.wasmPaths = new URL("vendor/", BASE).href;
// Threads need SharedArrayBuffer, which only a cross-origin isolated page (COOP + COEP headers) has.
// ?threads=N asks for fewer (benchmarks/web_speed.py compares 1 and 2).
const asked = Number(new URLSearchParams(location.search).get("threads")) || Infinity;
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, asked, navigator.hardwareConcurrency || 1) : 1;

export class BadImage extends Error {}
// A picture the server reads but this browser cannot decode (TIFF): the app's page sends it to the server.
export class NotHere extends BadImage {}

// -- decoding, with the server's messages ------------------------------------------------------------------------
const SIGNATURES = [
  ["PNG", [0x89, 0x50, 0x4e, 0x47]], ["JPEG", [0xff, 0xd8, 0xff]], ["GIF", [0x47, 0x49, 0x46, 0x38]],
  ["BMP", [0x42, 0x4d]], ["WEBP", [0x52, 0x49, 0x46, 0x46]], ["TIFF", [0x49, 0x49, 0x2a, 0x00]],
  ["TIFF", [0x4d, 0x4d, 0x00, 0x2a]],
];
const BROWSER_DECODES = ["PNG", "JPEG", "GIF", "BMP", "WEBP"];
const formatList = (formats) => formats.map((f) => (f === "WEBP" ? "WebP" : f)).join(", ");

function sniff(bytes) {
  for (const [name, sig] of SIGNATURES) if (sig.every((b, i) => bytes[i] === b)) return name;
  return null;
}

// Width and height from the header, before anything is decoded: a 20000x20000 PNG is refused, not decoded.
function headerSize(bytes, kind) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    if (kind === "PNG") return [view.getUint32(16), view.getUint32(20)];
    if (kind === "GIF") return [view.getUint16(6, true), view.getUint16(8, true)];
    if (kind === "BMP") return [Math.abs(view.getInt32(18, true)), Math.abs(view.getInt32(22, true))];
    if (kind === "JPEG") {
      for (let i = 2; i + 9 < bytes.length;) {
        if (bytes[i] !== 0xff) { i++; continue; }
        const marker = bytes[i + 1];
        if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
          return [view.getUint16(i + 7), view.getUint16(i + 5)];
        }
        i += 2 + view.getUint16(i + 2);
      }
    }
  } catch (e) { /* a header cut short: the decoder will say so */ }
  return null;
}

function humanSize(n) {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : n >= 1024 ? `${Math.round(n / 1024)} kB` : `${n} bytes`;
}

export async function decode(file, { maxBytes, maxPixels, formats } = limits) {
  const name = file.name ? `'${file.name}'` : "the upload";
  if (!file.size) throw new BadImage(`Empty file: ${name} has 0 bytes`);
  if (file.size > maxBytes) throw new BadImage(`File too large: ${humanSize(file.size)} > limit of ${humanSize(maxBytes)}`);
  const bytes = new Uint8Array(await file.slice(0, 65536).arrayBuffer());
  const kind = sniff(bytes);
  if (!kind || !formats.includes(kind)) {
    throw new BadImage(`Not an image: cannot read ${name} as a picture (${formatList(formats)})`);
  }
  if (!BROWSER_DECODES.includes(kind)) {
    throw new NotHere(`${kind} pictures cannot be decoded in this browser: convert ${name} to ` +
      `${formatList(formats.filter((f) => BROWSER_DECODES.includes(f)))}`);
  }
  const size = headerSize(bytes, kind);
  if (size && size[0] * size[1] > maxPixels) {
    const px = size[0] * size[1];
    throw new BadImage(`Image too large: ${size[0]}×${size[1]} = ${px.toLocaleString("en-US")} pixels > limit of ` +
      `${maxPixels.toLocaleString("en-US")} pixels (decompression bomb protection)`);
  }
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (e) {
    throw new BadImage(`Corrupted or truncated image: ${name} cannot be decoded as ${kind}`);
  }
}

// -- sizes, as the server computes them ----------------------------------------------------------------------------
export function fitSize(w, h, maxSide = limits.maxSide) {
  if (!maxSide || Math.max(w, h) <= maxSide) return [w, h];
  const s = maxSide / Math.max(w, h);
  return [Math.max(1, Math.min(maxSide, Math.round(w * s))), Math.max(1, Math.min(maxSide, Math.round(h * s)))];
}

export function workingSize(w, h, nativeSize) {
  const s = nativeSize ? nativeSize / Math.sqrt(w * h) : 1;
  if (Math.abs(s - 1) <= 0.02) return [w, h];
  return [Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s))];
}

export function canvas(w, h) {
  const c = document.createElement("canvas");
  c.width = w; c.height = h;
  return c;
}

export function drawn(source, w, h) {
  const c = canvas(w, h), g = c.getContext("2d");
  g.imageSmoothingEnabled = true; g.imageSmoothingQuality = "high";
  g.drawImage(source, 0, 0, w, h);
  return c;
}

// -- tensors: CHW float32 in [-1, 1] -------------------------------------------------------------------------------
function toTensor(c) {
  const { data } = c.getContext("2d").getImageData(0, 0, c.width, c.height), n = c.width * c.height;
  const x = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) x[k * n + i] = data[4 * i + k] / 127.5 - 1;
  return x;
}

function toCanvas(x, w, h) {
  const c = canvas(w, h), g = c.getContext("2d"), img = g.createImageData(w, h), n = w * h;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) img.data[4 * i + k] = Math.round((Math.min(1, Math.max(-1, x[k * n + i])) + 1) * 127.5);
    img.data[4 * i + 3] = 255;
  }
  g.putImageData(img, 0, 0);
  return c;
}

// Pad to a multiple of 4 (the generator halves the size twice), at least 8: reflected where it fits, else repeated.
function pad(x, h, w) {
  const H = Math.max(8, Math.ceil(h / 4) * 4), W = Math.max(8, Math.ceil(w / 4) * 4);
  if (H === h && W === w) return [x, H, W];
  const reflect = H - h < h && W - w < w;
  const at = (i, n) => (i < n ? i : reflect ? 2 * (n - 1) - i : n - 1);
  const y = new Float32Array(3 * H * W);
  for (let k = 0; k < 3; k++) for (let r = 0; r < H; r++) for (let c = 0; c < W; c++) {
    y[(k * H + r) * W + c] = x[(k * h + at(r, h)) * w + at(c, w)];
  }
  return [y, H, W];
}

function crop(y, H, W, h, w) {
  if (H === h && W === w) return y;
  const x = new Float32Array(3 * h * w);
  for (let k = 0; k < 3; k++) for (let r = 0; r < h; r++) x.set(y.subarray((k * H + r) * W, (k * H + r) * W + w), (k * h + r) * w);
  return x;
}

// -- models ----------------------------------------------------------------------------------------------------
const sessions = new Map();
export const models = {};

// models.json, one format for the static site and the app: {models: [names, the first shown first], limits}.
export async function loadModels(url = new URL("models.json", BASE)) {
  const config = await (await fetch(url)).json();
  Object.assign(limits, config.limits);
  for (const name of config.models) models[name] = await (await fetch(new URL(`models/${name}/web.json`, BASE))).json();
  return config.models;
}

// A generator's session, made once: its plain graph (kind "file"), or its camera graph ("steady": shared statistics
// and smoothing in one step, web.json's files[direction].steady), in ONNX Runtime ``runtime`` (this module's WASM
// build unless another is given: the camera's WebGPU one).
export async function session(model, direction, kind = "file", runtime = ort, providers = ["wasm"]) {
  const key = `${model}/${direction}/${kind}/${providers.join(",")}`;
  if (!sessions.has(key)) {
    const meta = models[model];
    if (!meta || !meta.files[direction]) throw new Error(`the model ${model} has no ${direction} generator`);
    const url = new URL(`models/${model}/${meta.files[direction][kind]}`, BASE);
    const made = runtime.InferenceSession.create(url.href, { executionProviders: providers });
    made.catch(() => sessions.delete(key)); // a failure is not kept: the next attempt tries again
    sessions.set(key, made);
  }
  return sessions.get(key);
}

// One generator on x (CHW float32 in [-1, 1], h x w): the padded batch through the graph, cropped back.
export async function run(model, direction, x, h, w) {
  const s = await session(model, direction);
  const [p, H, W] = pad(x, h, w);
  const out = await s.run({ input: new ort.Tensor("float32", p, [1, 3, H, W]) });
  return crop(out.output.data, H, W, h, w);
}

// Directions as cyclegan.direction.Direction spells them: the reverse, and (source, target) of the two domains.
export const reverse = (d) => (d === "AtoB" ? "BtoA" : "AtoB");
export const ends = (d, a, b) => (d === "AtoB" ? [a, b] : [b, a]);
// "a ↔ b" for a model with both generators; a one-direction model reads the way it translates (catalog.domains).
export const domains = (meta, directions = meta.directions) =>
  (directions.length === 2 ? `${meta.domain_a} ↔ ${meta.domain_b}` : ends(directions[0], meta.domain_a, meta.domain_b).join(" → "));

function psnr(a, b) {
  const da = a.getContext("2d").getImageData(0, 0, a.width, a.height).data;
  const db = b.getContext("2d").getImageData(0, 0, b.width, b.height).data;
  let se = 0, n = 0;
  for (let i = 0; i < da.length; i += 4) for (let k = 0; k < 3; k++, n++) se += ((da[i + k] - db[i + k]) / 127.5) ** 2;
  return 10 * Math.log10(4 / Math.max(se / n, 4e-10));
}

// The triptych of one picture: {real, fake, rec} canvases at the picture's (fitted) size, seconds, psnr.
export async function translate(file, model, direction) {
  const start = performance.now();
  const meta = models[model];
  direction = direction || meta.default_direction;
  const bitmap = await decode(file);
  const [w, h] = fitSize(bitmap.width, bitmap.height);
  const real = drawn(bitmap, w, h);
  bitmap.close();
  const [ww, wh] = workingSize(w, h, meta.native_size);
  const work = ww === w && wh === h ? real : drawn(real, ww, wh);
  const fakeX = await run(model, direction, toTensor(work), wh, ww);
  let fake = toCanvas(fakeX, ww, wh), rec = null;
  if (meta.files[reverse(direction)]) rec = toCanvas(await run(model, reverse(direction), fakeX, wh, ww), ww, wh);
  if (ww !== w || wh !== h) {
    fake = drawn(fake, w, h);
    rec = rec && drawn(rec, w, h);
  }
  return { real, fake, rec, seconds: (performance.now() - start) / 1000, psnr: rec ? psnr(real, rec) : null,
           threads: ort.env.wasm.numThreads };
}

export function triptych(...canvases) {
  const parts = canvases.filter(Boolean);
  const out = canvas(parts.reduce((s, c) => s + c.width, 0), Math.max(...parts.map((c) => c.height)));
  const g = out.getContext("2d");
  g.fillStyle = "white"; g.fillRect(0, 0, out.width, out.height);
  let x = 0;
  for (const c of parts) { g.drawImage(c, x, 0); x += c.width; }
  return out;
}

// Save a canvas as a PNG file through the browser's download.
export function downloadCanvas(c, name) {
  c.toBlob((blob) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 30000);
  }, "image/png");
}

export function webAssemblyWorks() {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  } catch (e) { return false; }
}

export { ort };

window.cyclegan = { BadImage, NotHere, decode, fitSize, workingSize, loadModels, models, limits, run, translate,
                    triptych, downloadCanvas, webAssemblyWorks, reverse, ends, domains, ort };
