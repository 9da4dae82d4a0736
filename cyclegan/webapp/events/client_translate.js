// The Translate button with client inference: the page's script (gradio-client.js) translates in the browser and
// fills the outputs; before it has loaded, the hidden server button translates instead.
async (image, model, direction) => {
  document.querySelectorAll('[data-testid="toast-close"]').forEach((button) => button.click());
  if (window.cycleganApp) return window.cycleganApp.translate(image, model, direction);
  document.querySelector("#translate-server").click();
  return [null, null, null, null, null, "Translating on the server…", null, null];
}
