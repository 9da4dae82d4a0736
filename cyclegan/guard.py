"""What a client sends to the app's handlers, checked before anything is done with it, and the one-line answer when
it cannot be used.

Every handler of the page answers anyone who names its index, so ``guard_inputs`` holds every call, the API's and
the page's alike, before Gradio handles its inputs. ``toast`` is how a refusal reaches the person who sent it;
``read_upload`` turns a picture's raw payload into RGB (decoded in the sandbox, for the server) or a toast.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import gradio as gr
from gradio.exceptions import InvalidPathError
from PIL import Image

from .errors import BadImage, CatalogError
from .sandbox import Sandbox
from .uploads import NOT_AN_UPLOAD, check_payload, decode_upload


def toast(message: str) -> gr.Error:
    """A one-line reason for the person who sent the file, as the error toast they read. No title=: Gradio 6 heads
    every toast with its type ("Error"), so the message itself says what is wrong."""
    return gr.Error(message[0].upper() + message[1:], print_exception=False)


def read_upload(payload, roots: list[Path] | None = None, sandbox: Sandbox | None = None, **limits) -> Image.Image:
    """The image input's raw payload (a FileData dict, a path or a data: URL) as RGB; gr.Error if unusable. With
    ``roots``, a path is opened only inside them (``uploads.confine``); with ``sandbox``, decoded there."""
    try:
        return decode_upload(payload, roots, sandbox, **limits)
    except BadImage as e:
        raise toast(str(e)) from None


FILE_DATA = {"_type": "gradio.FileData"}
MAX_CHOICE = 200  # characters of a model or direction a client may send (a Hub id is at most 96)
NOT_AN_ENDPOINT = "Not an endpoint of this app"


def guard_inputs(blocks: gr.Blocks, roots: list[Path]) -> gr.Blocks:
    """Every value a client sends to any handler of ``blocks`` (the API's and the page's own, which anyone can call by
    its index), checked as it arrives, before Gradio's own handling:

    - a handler that runs in the page alone (no Python function) is never run here;
    - a picture or video: a path that does not resolve inside ``roots`` and any web address get the usual line
      (``uploads.check_payload``); a handler that takes one must decode it itself (``preprocess=False``, the sandbox)
      and be queued, or the call is refused (``unguarded`` lists any such handler, for the tests);
    - a model or a direction: a string of at most ``MAX_CHOICE`` characters (the handler checks it against its
      choices); a checkbox: a boolean; an example: the index of one; a call with too few values: refused;
    - afterwards the session keeps none of the values sent (Gradio copies each input into the session's state, for
      deep links, which this app does not serve: a 1 MB data: URL a call would otherwise stay in memory).

    Each refusal is one line for the client, nothing in the log. Set on the instance: Gradio has no hook that runs
    before its own handling of inputs."""
    preprocess = blocks.preprocess_data

    def checked(block_fn, block, payload):
        if isinstance(block, (gr.Image, gr.Video)):
            if block_fn.preprocess or not block_fn.queue:
                raise BadImage(NOT_AN_ENDPOINT)
            payload = check_payload(payload, roots)
            if isinstance(block, gr.Video) and payload and payload.get("path"):
                payload = {**payload, "meta": FILE_DATA}  # Gradio's FileData of a video must say what it is
        elif isinstance(block, (gr.Dropdown, gr.Radio)):
            if payload is not None and not (isinstance(payload, str) and len(payload) <= MAX_CHOICE):
                raise BadImage("Unknown direction: use 'AtoB' or 'BtoA'" if isinstance(block, gr.Radio) else
                               f"Unknown model: a model is named by a string of at most {MAX_CHOICE} characters")
            if isinstance(block, gr.Dropdown) and payload and payload not in {
                    name for choice in block.choices for name in choice}:  # a model's key or its label
                raise BadImage(f"Unknown model {payload[:60]!r}: pick one of the models listed")
        elif isinstance(block, gr.Checkbox) and not isinstance(payload, bool):
            raise BadImage("Not a yes or no: a checkbox takes true or false")
        elif isinstance(block, gr.Dataset) and payload is not None and (
                type(payload) is not int or not 0 <= payload < len(block.raw_samples)):
            raise BadImage("Not an example of this page")
        return payload

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        try:
            if block_fn.fn is None or len(inputs) < len(block_fn.inputs):
                raise BadImage(NOT_AN_ENDPOINT)
            inputs = [checked(block_fn, block_fn.inputs[i], value) if i < len(block_fn.inputs) else value
                      for i, value in enumerate(inputs)]
            return await preprocess(block_fn, inputs, state, explicit_call)
        except (BadImage, InvalidPathError) as e:  # InvalidPathError: an example's path sent as an upload, say
            raise toast(NOT_AN_UPLOAD if isinstance(e, InvalidPathError) else str(e)) from None
        finally:
            forget_inputs(block_fn, state)

    blocks.preprocess_data = preprocess_data
    return blocks


def forget_inputs(block_fn, state) -> None:
    """Drop the copies of a call's input values that Gradio keeps in the session's state (``config_values``)."""
    for block in block_fn.inputs:
        props = getattr(state, "config_values", {}).get(block._id, {}).get("props")
        if isinstance(props, dict):
            props["value"] = None


def unguarded(blocks: gr.Blocks) -> list[str]:
    """The handlers of ``blocks`` that take a picture or video but would let Gradio decode it, or skip the queue:
    ``guard_inputs`` refuses every call to them (so the page would be broken: there must be none)."""
    return [fn.name for fn in blocks.fns.values() if fn.fn is not None and (fn.preprocess or not fn.queue)
            and any(isinstance(b, (gr.Image, gr.Video)) for b in fn.inputs)]


@contextmanager
def as_toast() -> Iterator[None]:
    """A ``CatalogError`` (unknown model, failed load, missing direction) as the error toast the user reads."""
    try:
        yield
    except CatalogError as e:
        # Only an unexpected load failure has a cause: its traceback goes to the log, the others need none.
        raise gr.Error(str(e), print_exception=e.__cause__ is not None) from e.__cause__
