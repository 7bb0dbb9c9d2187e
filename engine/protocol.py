"""The OSC address space as data: one table of routes (address, typed arguments, replies, doc).

Everything else is derived from this file: the server's dispatcher and argument checks
(`engine/server/`), the manifest the web page and the Max/Pd patches read
(`plugin_ui/protocol.json`) and the Markdown reference (`docs/osc.md`), both written by
`tools/gen_protocol`. A test fails when a route lacks a handler, a handler lacks a route, or the
generated files drift from this table.

Conventions (scsynth style):
- every command answers: its own reply (`/ping` -> `/pong`, `/status` -> `/status ...`), or
  `/done <address> ...` on success, or `/fail <address> <reason>`. Commands marked `job` run on the
  worker and answer when they finish; `/progress <address> <fraction>` comes meanwhile.
- replies go to the sender's host and port, or to the reply port (`--reply-port`, or `/notify 1 PORT`).
- an OSC peer that stays silent is forgotten (its subscription and reply port; the timeout is under
  Limits): any message renews it, so a patch that subscribes sends `/notify 1 PORT` again (or
  polls `/status`) every few seconds. When the peer table is full, the least recently active peer
  goes, never the newcomer. `/fail` is rate-limited per sender (host and port).
- types: `i` int32, `f` float32, `s` string, `*` any of those. Max and Pd send floats for ints:
  a float is accepted for an `i` argument when it is a whole number, and an int for an `f` argument.
- regions are half-open: levels `[level_start, level_stop)`, frames `[frame_start, frame_stop)`,
  in code frames (the grid's columns), levels counted from 0 (the coarsest).
- addresses are matched exactly (OSC wildcards are not expanded); a bundle's messages are handled
  in order at its time tag (Unix time on this machine's clock): "immediately" at once; a future
  tag on the exact audio frame of its time (transport, gains, auditions; a code edit from that
  frame once decoded), if it arrives at least the ring's lead plus a block (16 ms at the defaults)
  ahead: stamp 50 ms ahead; later ones are applied at once and counted in `/status late_bundles`
  (engine/server/clock.py, docs/server.md "Timing").
- the WebSocket endpoint speaks the same table as JSON: `{"address": "/edit/set", "args": [0, 12, 5]}`
  both ways.
"""
from __future__ import annotations

from dataclasses import dataclass

from engine import facts

PROTOCOL_VERSION = 1
MAX_DATAGRAM_BYTES = 8192  # larger datagrams are refused with /fail (commands are short)
SAFE_UDP_PAYLOAD_BYTES = 1400  # replies are split to stay under one Ethernet MTU
GRID_CHUNK_CODES = 200  # codes per /grid/chunk: 200 * 5 bytes + header < SAFE_UDP_PAYLOAD_BYTES
MAX_STRING_BYTES = 1024  # longer string arguments are refused
WEBSOCKET_PATH = "/ws"
# The web endpoint's HTTP paths for the grid's decoded sound (engine/server/sound.py): the page reads
# them from the manifest; `{i}` is a segment number.
SOUND_HTTP = {"index": "/sound/index.json", "segment": "/sound/segment/{i}",
              "doc": "index: JSON with sample_rate, samples, samples_per_frame, segment_samples and one "
                     "etag per segment; segment: its samples as float32 little-endian mono, ETag header"}
MAX_WEBSOCKET_JSON_DEPTH = 4  # WebSocket messages: {"address": "/x", "args": [...]} nests 2 deep
MAX_NAME_CHARS = 64  # clip, session and model names: a file name that fits every file system with its suffix
PEER_TIMEOUT_S = 60.0  # an OSC peer silent this long is forgotten (renew with /notify or any message)
MAX_PEERS = 256  # OSC peers remembered at once; the least recently active goes first
FAIL_BURST = 20  # /fail replies a sender may get at once ...
FAIL_PER_S = 20.0  # ... and per second after that; the rest are counted, not sent
ARG_TYPES = ("i", "f", "s", "*")


@dataclass(frozen=True)
class Arg:
    """One typed argument. `minimum`/`maximum` are inclusive bounds; `choices` limits strings;
    `max_chars` limits a name's length (longer is refused, never cut)."""

    name: str
    type: str
    doc: str
    optional: bool = False
    default: int | float | str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    max_chars: int | None = None

    def __post_init__(self) -> None:
        if self.type not in ARG_TYPES:
            raise ValueError(f"argument {self.name}: type {self.type!r} not in {ARG_TYPES}")


@dataclass(frozen=True)
class Message:
    """A message the server sends. `repeated`: zero or more of it; `pairs`: its args are followed by
    key/value pairs (string key, value of any type)."""

    address: str
    args: tuple[Arg, ...] = ()
    doc: str = ""
    repeated: bool = False
    pairs: bool = False


@dataclass(frozen=True)
class Route:
    """One command a client sends. `job`: runs on the worker (long; progress, cancellable)."""

    address: str
    args: tuple[Arg, ...]
    replies: tuple[Message, ...]
    doc: str
    group: str
    job: bool = False

    def __post_init__(self) -> None:
        seen_optional = False
        for arg in self.args:
            if seen_optional and not arg.optional:
                raise ValueError(f"{self.address}: required argument {arg.name} after an optional one")
            seen_optional = seen_optional or arg.optional

    @property
    def min_args(self) -> int:
        return sum(not a.optional for a in self.args)


# ---------------------------------------------------------------- building blocks
def _i(name: str, doc: str, **kw) -> Arg:
    return Arg(name, "i", doc, **kw)


def _f(name: str, doc: str, **kw) -> Arg:
    return Arg(name, "f", doc, **kw)


def _s(name: str, doc: str, **kw) -> Arg:
    return Arg(name, "s", doc, **kw)


_ADDRESS = _s("address", "the command this answers")
_VERSION = _i("version", "grid version after the command (increments on every change)", minimum=0)
_REGION = (
    _i("level_start", "first level of the region", minimum=0),
    _i("level_stop", "level after the last one (half-open)", minimum=1),
    _i("frame_start", "first code frame of the region", minimum=0),
    _i("frame_stop", "frame after the last one (half-open)", minimum=1),
)
_SEED = _i("seed", "random seed; the same seed gives the same codes", optional=True, minimum=0)


def _done(*args: Arg, doc: str = "success") -> Message:
    return Message("/done", (_ADDRESS, *args), doc)


_DONE = _done()
_DONE_VERSION = _done(_VERSION, doc="success; the grid changed")
_GRID_CHUNK = Message(
    "/grid/chunk",
    (_VERSION, _i("level", "level of these codes"), _i("frame_start", "frame of the first code")),
    f"up to {GRID_CHUNK_CODES} codes of one level, as ints following the three fields",
    repeated=True)


def _edit(address: str, args: tuple[Arg, ...], doc: str, job: bool = False) -> Route:
    return Route(address, args, (_DONE_VERSION,), doc, "edit", job)


def _move(name: str, doc: str) -> Route:
    amount = _f("amount", "strength from 0 (none) to 1 (full)", optional=True, default=1.0,
                minimum=0.0, maximum=1.0)
    return Route(f"/move/{name}", (*_REGION, amount), (_DONE_VERSION,),
                 f"perceptual move: make the region {doc}, keeping the other levels' structure", "move", job=True)


MOVES = facts.MOVE_NAMES
_MOVE_DOCS = {name: phrase for name, (_, _, phrase) in facts.MOVES.items()}


def _knob(key: str) -> Arg:
    """A sampling setting's one argument, its default and range from engine/facts.py."""
    k = facts.KNOBS[key]
    return Arg("value", k.type, k.doc, default=k.default, minimum=k.minimum, maximum=k.maximum)


_STATUS_DOC = "key/value pairs: " + ", ".join(f"{key} {t} ({doc})" for key, (t, doc) in facts.STATUS_KEYS.items())

_AUDITION_GAIN = _f("gain_db", "its gain (a MIDI note's velocity)", optional=True, default=0.0, minimum=-96.0,
                    maximum=12.0)
_MIDI_PARAMS = tuple(_i(f"p{k}", "the target's parameters (docs/ui.md#midi)", optional=True, minimum=0)
                     for k in range(1, 5))
_MIDI_TARGET = _s("target", "a note action (slice region code voice) or a CC target (a move name, blend, "
                            "creativity, focus, diversity, voice_gain, gain)")


_MIDI_KIND = _s("kind", "note, cc, or bend (its number is 0)", choices=("note", "cc", "bend"))


def _midi_event(address: str, number: str, value: str, doc: str) -> Route:
    return Route(address, (_i(number, f"{number} number", minimum=0, maximum=127),
                           _i(value, f"{value} 0..127", minimum=0, maximum=127),
                           _i("channel", "MIDI channel 1..16", optional=True, default=1, minimum=1, maximum=16)),
                 (_DONE,), doc, "midi")


# ---------------------------------------------------------------- the table
ROUTES: tuple[Route, ...] = (
    # system
    Route("/ping", (Arg("token", "*", "echoed back", optional=True),),
          (Message("/pong", (Arg("token", "*", "the token sent, if any", optional=True),)),),
          "liveness check; answers at once, even while a job runs", "system"),
    Route("/status", (),
          (Message("/status", (), _STATUS_DOC, pairs=True),),
          "engine state as key/value pairs", "system"),
    Route("/notify", (_i("on", "1 to receive notifications (progress, grid, heartbeat), 0 to stop",
                         minimum=0, maximum=1),
                      _i("reply_port", "send this client's replies and notifications to this port "
                                       "(for udpreceive / netreceive)", optional=True, minimum=1, maximum=65535)),
          (_DONE,), f"subscribe the sender to notifications (and choose its reply port); a peer silent for "
                    f"{PEER_TIMEOUT_S:g} s is forgotten, so send it again (or any message) more often", "system"),
    Route("/cancel", (_s("job", "address of the job to cancel (e.g. /generate); all jobs if absent",
                         optional=True),),
          (_done(_i("cancelled", "how many jobs were cancelled")),),
          "cancel running and queued jobs; each answers /fail <address> cancelled", "system"),
    # models
    Route("/model/list", (_s("filter", "only names containing this text", optional=True),),
          (Message("/model/entry", (_s("name", "file name without .distill"), _i("levels", "RVQ levels"),
                                    _i("codebook_size", "codes per level"), _i("files", "training files used"),
                                    _s("health", "green|yellow|red|unknown"),
                                    _s("created", "ISO 8601 date")), repeated=True),
           _done(_i("count", "number of /model/entry messages sent"))),
          "list the model library (models/); manifests are read off the dispatcher and cached by mtime and size",
          "model"),
    Route("/model/load", (_s("name", "model name in models/, or a path inside it"),),
          (_done(_s("name", "loaded model"), _s("model_id", "bundle model id"), _i("levels", "RVQ levels"),
                 _i("codebook_size", "codes per level"), _f("frame_rate_hz", "code frames per second")),),
          "load a model; starts a new empty session for it", "model", job=True),
    Route("/model/info", (),
          (Message("/model/info", (), "key/value pairs: name, model_id, levels, codebook_size, "
                   "frame_rate_hz, sample_rate, files, health, message, created, has_prior, has_onnx",
                   pairs=True),),
          "the loaded model's summary", "model"),
    Route("/model/export", (), (_done(_s("path", "the model file")),),
          "(re)add ONNX graphs and code labels to the loaded model's file", "model", job=True),
    # training
    Route("/train/start", (_s("folder", "audio folder inside the input folder"),
                           _s("name", "name of the new model in models/", max_chars=MAX_NAME_CHARS),
                           _f("max_minutes", "training time budget", optional=True, minimum=0.1, maximum=600)),
          (_done(_s("path", "the new model file")),),
          "train a model on a folder of sounds; /train/epoch and /train/health arrive per epoch",
          "train", job=True),
    Route("/train/progress", (),
          (Message("/train/progress", (_s("state", "idle|running|done|failed|cancelled"),
                                       _i("epoch", "last finished epoch"), _i("epochs", "epoch budget"),
                                       _f("train_loss", "training loss"), _f("val_loss", "validation mel L1"))),),
          "training state now", "train"),
    Route("/train/cancel", (), (_done(),), "stop training (the run answers /fail /train/start cancelled)", "train"),
    # sampling and generation
    Route("/sampling", (),
          (Message("/sampling", (_f("creativity", "temperature"), _i("focus", "top-k, 0 = off"),
                                 _f("diversity", "top-p"))),),
          "current sampling settings", "generate"),
    *(Route(f"/sampling/{k.word}", (_knob(k.key),), (_DONE,),
            f"{k.word.capitalize()} ({k.key.replace('_', '-')}) for generation and regeneration", "generate")
      for k in facts.SAMPLING_KNOBS),
    Route("/generate", (_f("seconds", "duration", minimum=1.0, maximum=60.0), _SEED),
          (_done(_i("frames", "code frames generated"), _VERSION),),
          "generate a new grid with the prior (undoable)", "generate", job=True),
    # grid
    Route("/grid/get", (_i("frame_start", "first frame", optional=True, default=0, minimum=0),
                        _i("frame_stop", "frame after the last; 0 = the end", optional=True, default=0, minimum=0)),
          (Message("/grid/info", (_VERSION, _i("levels", "Q"), _i("frames", "F"),
                                  _i("codebook_size", "K"), _f("frame_rate_hz", "code frames per second"))),
           _GRID_CHUNK, _done(_VERSION)),
          "the code grid (or some frames of it), split into /grid/chunk messages", "grid"),
    # editor
    _edit("/edit/set", (_i("level", "level", minimum=0), _i("frame", "code frame", minimum=0),
                        _i("code", "new code", minimum=0)), "set one code"),
    _edit("/edit/swap", (*_REGION, _i("code_a", "one code", minimum=0), _i("code_b", "the other", minimum=0)),
          "swap two codes everywhere inside the region"),
    _edit("/edit/copy", _REGION, "copy the region to the clipboard (the grid is unchanged)"),
    _edit("/edit/paste", (_i("level", "top level of the destination", minimum=0),
                          _i("frame", "first frame of the destination", minimum=0)),
          "paste the clipboard (clipped to the grid)"),
    _edit("/edit/duplicate", _REGION, "repeat the region right after itself, overwriting what follows"),
    _edit("/edit/reverse", _REGION, "reverse the region in time"),
    _edit("/edit/shift", (*_REGION, _i("frames", "frames to move by, negative = earlier")),
          "move the region in time, rotating within the region"),
    _edit("/edit/fill", (*_REGION, _i("code", "the code every cell of the region gets", minimum=0)),
          "fill the region with one code, as one undo step (locked levels keep theirs)"),
    _edit("/edit/blend", (*_REGION, _f("amount", "0 = region unchanged, 1 = clipboard", minimum=0.0, maximum=1.0)),
          "blend the region's code vectors with the clipboard's, re-quantized level by level"),
    _edit("/edit/morph", _REGION,
          "morph over time from the region's sound into the clipboard's, re-quantized"),
    _edit("/edit/lock", (_i("level", "level", minimum=0), _i("locked", "1 lock, 0 unlock", minimum=0, maximum=1)),
          "lock a level so edits and regeneration leave it alone"),
    _edit("/edit/regenerate", (*_REGION, _SEED),
          "regenerate the region with the prior from the codes around it", job=True),
    _edit("/edit/encode", (_s("path", "audio file inside the input folder"),),
          "encode an audio file into a new grid", job=True),
    _edit("/edit/select", _REGION, "set the selection (shared with the web page; broadcast as /selection)"),
    Route("/undo", (), (_DONE_VERSION,), "undo the last change to the grid", "edit"),
    Route("/redo", (), (_DONE_VERSION,), "redo the last undone change", "edit"),
    *(_move(name, _MOVE_DOCS[name]) for name in MOVES),
    # labels
    Route("/labels/get", (_i("level", "only this level", optional=True, minimum=0),),
          (Message("/label", (_i("level", "level"), _i("code", "code"), _s("name", "e.g. bright, dark, noisy"),
                              _i("family", "colour family index"), _s("family_name", "family name")),
                   repeated=True), _done(_i("count", "number of /label messages sent"))),
          "perceptual names and colour families of the loaded model's codes", "labels"),
    # audition
    Route("/audition/code", (_i("level", "level", minimum=0), _i("code", "code", minimum=0),
                             _i("frames", "frames to hold it", optional=True, default=24, minimum=1, maximum=2048),
                             _AUDITION_GAIN),
          (_DONE,), "play one code held in context", "audition"),
    Route("/audition/region", (*_REGION, _AUDITION_GAIN), (_DONE,), "play a region of the grid", "audition"),
    Route("/audition/grid", (), (_DONE,), "play the whole grid once", "audition"),
    # transport (the bridge)
    Route("/play", (), (_DONE,), "start playing the grid (looping the loop region)", "transport"),
    Route("/stop", (), (_DONE,), "stop playing (with a short fade)", "transport"),
    Route("/loop", (_f("start_s", "loop start", minimum=0.0), _f("end_s", "loop end; 0 = whole grid", minimum=0.0)),
          (_DONE,), "set the loop region in seconds", "transport"),
    Route("/loop/bars", (_f("start_bar", "loop start in bars from 0", minimum=0.0),
                         _f("bars", "loop length in bars", minimum=0.0625)),
          (_DONE,), "set the loop region in bars at the tempo", "transport"),
    Route("/tempo", (_f("bpm", "beats per minute", minimum=20.0, maximum=400.0),), (_DONE,),
          "set the tempo for bar lengths", "transport"),
    Route("/seek", (_f("position_s", "playhead position", minimum=0.0),), (_DONE,), "move the playhead", "transport"),
    Route("/gain", (_f("gain_db", "output gain", minimum=-96.0, maximum=12.0),), (_DONE,),
          "output gain, ramped so it does not click", "transport"),
    # layered voices (the bridge mixes them with the grid)
    Route("/voice/add", (_f("seconds", "duration", minimum=1.0, maximum=60.0), _SEED),
          (_done(_i("voice", "the new layer's index, from 1 (0 is the grid)")),),
          "generate a second code stream with the prior and play it layered over the grid (needs --device)",
          "voice", job=True),
    Route("/voice/gain", (_i("voice", "layer index, from 1", minimum=1),
                          _f("gain_db", "the layer's gain", minimum=-96.0, maximum=12.0)),
          (_DONE,), "gain of one layer", "voice"),
    Route("/voice/clear", (), (_done(_i("count", "layers removed")),), "remove every layer: the grid plays alone",
          "voice"),
    # MIDI (engine/edit/midi.py: the mapping is data stored in the session)
    _midi_event("/midi/note", "note", "velocity", "a MIDI note as Max/Pd [notein] give it (velocity 0 = note off): "
                "plays what the mapping binds to it"),
    _midi_event("/midi/cc", "controller", "value", "a MIDI control change as [ctlin] gives it: drives its mapped target"),
    Route("/midi/bend", (_i("value", "pitch bend 0..16383 (8192 at rest)", minimum=0, maximum=16383),
                         _i("channel", "MIDI channel 1..16", optional=True, default=1, minimum=1, maximum=16)),
          (_DONE,), "a MIDI pitch bend (Pd [bendin]; Max [xbendin]): drives the target the mapping binds to "
          "'bend 0' (a CC target, at 14-bit resolution)", "midi"),
    Route("/midi/map", (_MIDI_KIND, _i("number", "note or controller 0..127",
                        minimum=0, maximum=127), _MIDI_TARGET, *_MIDI_PARAMS),
          (_DONE,), "bind a note or controller to a target (replaces its binding; saved with the session)", "midi"),
    Route("/midi/unmap", (_MIDI_KIND,
                          _i("number", "note or controller", minimum=0, maximum=127)),
          (_DONE,), "remove a binding", "midi"),
    Route("/midi/map/list", (),
          (Message("/midi/binding", (_s("kind", "note|cc|bend"), _i("number", "0..127"), _s("target", "what it drives"),
                                     _i("channel", "1..16, 0 = any")),
                   "followed by the target's parameters as ints", repeated=True),
           _done(_i("count", "number of /midi/binding messages sent"))),
          "the MIDI mapping", "midi"),
    Route("/midi/map/reset", (), (_DONE,), "back to the default mapping (docs/ui.md#midi)", "midi"),
    Route("/midi/learn", (_s("target", "what the next note or controller received gets bound to; 'off' stops "
                                       "learning"), *_MIDI_PARAMS),
          (_DONE,), "MIDI learn: the next note (for a note action) or CC (for a CC target) is bound; "
          "/midi/learned follows", "midi"),
    # tempo sync
    Route("/link", (_i("on", "1 joins an Ableton Link session, 0 leaves it", minimum=0, maximum=1),
                    _i("start_stop", "1 also follows and sends Link's start/stop", optional=True, default=1,
                       minimum=0, maximum=1)),
          (_done(_i("peers", "Link peers seen")),), "Ableton Link: tempo (and play/stop) shared with Live and "
          "other apps; /play then starts on the session's next bar", "transport"),
    # effects (the bridge)
    Route("/fx/add", (_s("effect", "a pedalboard effect (e.g. Reverb, Compressor) or a .vst3 path"),
                      _i("slot", "position in the chain; -1 = end", optional=True, default=-1, minimum=-1)),
          (_done(_i("slot", "the new effect's slot"), _s("name", "its name")),), "add an effect to the chain",
          "fx", job=True),
    Route("/fx/remove", (_i("slot", "slot", minimum=0),), (_DONE,), "remove an effect", "fx"),
    Route("/fx/param", (_i("slot", "slot", minimum=0), _s("param", "parameter name, e.g. room_size"),
                        _f("value", "new value in the parameter's unit")),
          (_DONE,), "set an effect parameter", "fx"),
    Route("/fx/bypass", (_i("slot", "slot", minimum=0), _i("bypassed", "1 bypass, 0 active", minimum=0, maximum=1)),
          (_DONE,), "bypass an effect", "fx"),
    Route("/fx/list", (),
          (Message("/fx/slot", (_i("slot", "slot"), _s("name", "effect"), _i("bypassed", "1 if bypassed")),
                   repeated=True),
           Message("/fx/value", (_i("slot", "slot"), _s("param", "name"), _f("value", "value"),
                                 _s("unit", "unit or ''")), repeated=True),
           _done(_i("count", "number of slots"))),
          "the effect chain and every parameter", "fx"),
    # render
    Route("/render", (_s("name", "clip name (made unique in the clips folder)", max_chars=MAX_NAME_CHARS),),
          (_done(_s("path", "the written file")),),
          "render the grid through the effect chain to a clip file", "render", job=True),
    Route("/render/region", (_s("name", "clip name", max_chars=MAX_NAME_CHARS), _i("frame_start", "first frame", minimum=0),
                             _i("frame_stop", "frame after the last", minimum=1)),
          (_done(_s("path", "the written file")),), "render some frames to a clip file", "render", job=True),
    Route("/render/settings", (_s("format", "file format", choices=facts.RENDER_FORMATS),
                               _i("bit_depth", ", ".join(f"{b} ({name})" for b, name in facts.BIT_DEPTHS.items()),
                                  minimum=min(facts.BIT_DEPTHS), maximum=max(facts.BIT_DEPTHS)),
                               _i("sample_rate", "the DAW's rate", minimum=8000, maximum=192000),
                               _i("normalize", "1 = loudness-normalise", minimum=0, maximum=1)),
          (_DONE,), "file format for later renders", "render"),
    Route("/render/length", (_f("seconds", "clip length in seconds; 0 = the grid's own length", minimum=0.0,
                                maximum=600.0),
                             _f("bars", "clip length in bars at /tempo; 0 = use seconds", minimum=0.0, maximum=256.0)),
          (_DONE,), "length of later renders (the grid is looped or cut to it)", "render"),
    # session
    Route("/session/save", (_s("name", "session name (default: next to the model)", optional=True,
                                       max_chars=MAX_NAME_CHARS),),
          (_done(_s("path", "the session file")),), "save grid, history, loop and effect chain", "session"),
    Route("/session/load", (_s("name", "session name", optional=True, max_chars=MAX_NAME_CHARS),),
          (_done(_VERSION),), "load a saved session of the loaded model", "session", job=True),
)

# Messages the server sends without being asked (to subscribers: /notify 1, the reply port, web clients).
NOTIFICATIONS: tuple[Message, ...] = (
    Message("/progress", (_ADDRESS, _f("fraction", "0..1"), _s("message", "what it is doing")),
            "progress of a running job"),
    Message("/train/epoch", (_i("epoch", "finished epoch"), _i("epochs", "epoch budget"),
                             _f("train_loss", "training loss"), _f("val_loss", "validation mel L1"))),
    Message("/train/health", (_i("epoch", "epoch"), _i("level", "level"), _f("utilization", "share of codes used"),
                              _f("perplexity", "code perplexity"), _i("dead_codes", "unused codes"),
                              _s("verdict", "green|yellow|red")), "codebook health per level, per epoch"),
    Message("/train/verdict", (_s("verdict", "green|yellow|red"), _s("message", "plain-language advice"))),
    Message("/grid/changed", (_VERSION, _i("levels", "Q"), _i("frames", "F"), *_REGION),
            "the grid changed inside this region; /grid/chunk messages of the region follow"),
    _GRID_CHUNK,
    Message("/selection", _REGION, "the selection changed"),
    Message("/model", (_s("name", "loaded model"), _s("model_id", "id")), "a model was loaded"),
    Message("/transport", (_s("state", "stopped|playing"), _f("position_s", "playhead"))),
    Message("/heartbeat", (_i("seq", "increments each beat"), _f("uptime_s", "seconds since start")),
            "once a second"),
    Message("/midi/learned", (_s("kind", "note|cc|bend"), _i("number", "0..127"), _s("target", "what it now drives")),
            "MIDI learn bound an incoming note or controller"),
)

# Replies every command may get besides its own.
FAIL = Message("/fail", (_ADDRESS, _s("reason", "one sentence")),
               "the command failed (or was malformed); rate-limited per sender")

ROUTES_BY_ADDRESS: dict[str, Route] = {r.address: r for r in ROUTES}
assert len(ROUTES_BY_ADDRESS) == len(ROUTES), "duplicate address in ROUTES"
