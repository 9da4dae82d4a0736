// The Translate button without client inference: the hidden server button does the work.
() => { document.querySelector("#translate-server").click(); }
