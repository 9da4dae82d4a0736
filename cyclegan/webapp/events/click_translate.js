// An example picked with client inference: translate it as the button would, once its inputs are filled.
() => { setTimeout(() => document.querySelector("#translate").click(), 50); }
