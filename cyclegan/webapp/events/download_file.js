// Save the triptych the server built.
(file) => {
  if (file && file.url) {
    const a = document.createElement("a");
    a.href = file.url;
    a.download = file.orig_name || "cyclegan.png";
    document.body.append(a); a.click(); a.remove();
  }
}
