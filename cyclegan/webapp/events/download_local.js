// Download triptych: from the browser's own canvases when it translated (no server work); else the hidden button
// has the server build the PNG.
(model, direction) => {
  if (!(window.cycleganApp && window.cycleganApp.downloadLocal(model, direction))) {
    document.querySelector("#download-server").click();
  }
}
