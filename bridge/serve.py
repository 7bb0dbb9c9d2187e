"""`distill serve`: the composition root that joins the engine's OSC server and the bridge.

The CLI's command registry (`engine/cli/__init__.py` COMMANDS) maps "serve" to this module by name, so
`engine/` never imports `bridge` or `sounddevice`: the server talks to an `AudioPort` interface
(`engine/server/ports.py`) and this module plugs the real `Bridge` in. Without `--device` the
bridge opens no device but hosts the effect chain and renders through it (no sound card needed;
`OfflineAudio` when the bridge cannot even load); with `--device NAME` it opens
the device, and if that fails it says so and keeps serving OSC and rendering.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bridge.engine_audio import BridgeAudio
from bridge.player_config import LEAD_MS, PlayerConfig
from bridge.priority import DISPATCHER_RT_PRIORITY, raise_thread_priority
from engine.errors import InputError
from engine.server.app import add_arguments as add_server_arguments, options_from_args, run_server
from engine.server.ports import OfflineAudio

HELP = "run the engine in the background: OSC server, web editor and (with --device) live audio"


def add_arguments(p) -> None:
    add_server_arguments(p)
    p.add_argument("--device", metavar="NAME", help="audio output device (name, part of one, or index); "
                                                    "without it, no sound: OSC, editing and rendering only")
    p.add_argument("--sample-rate", type=int, default=48000, help="device sample rate (44100, 48000, 96000)")
    p.add_argument("--block-size", type=int, default=256, help="frames per audio callback (64..2048)")
    p.add_argument("--lead-ms", type=float, default=None, metavar="MS",
                   help=f"audio kept ready ahead of the playhead (default {LEAD_MS:g}; at least 2 blocks): "
                        "raise it where the machine stalls (a VM); transport, MIDI and edits through "
                        "effects wait for it, edits with an empty chain do not")
    p.add_argument("--midi-in", metavar="NAME", help="MIDI input port (name or a unique part of one; see "
                                                     "--midi-list): notes and CCs play through the session's mapping")
    p.add_argument("--midi-list", action="store_true", help="list the MIDI input ports and exit")
    p.add_argument("--midi-latency-ms", type=float, default=0.0, metavar="MS",
                   help="play MIDI input this long after it arrives, on the audio timeline (jitter-free "
                        "timing like a time-tagged bundle; 80 is safe at the default block size and lead); 0: at once")
    p.add_argument("--link", action="store_true", help="join an Ableton Link session at start (tempo and "
                                                     "start/stop shared with Live; needs aalink)")
    p.add_argument("--plugins-dir", dest="plugins_dirs", action="append", default=[], metavar="DIR",
                   help="a folder VST3 plugins may load from, besides the standard VST3 folders (repeatable); "
                        "/fx/add refuses a plugin anywhere else")
    p.add_argument("--device-in-process", action="store_true",
                   help="run the audio device's producer and callback in this process instead of a "
                        "process of their own (for comparison: busy Python threads here can then delay them)")


def run(args) -> int:
    """Serves until SIGTERM or Ctrl-C, then shuts down in order (server and worker, decode thread,
    stream and producer, PortAudio) and returns 0. Threads still inside onnxruntime, PortAudio or
    JACK when the interpreter exits abort it ("terminate called without an active exception")."""
    if getattr(args, "midi_list", False):
        from bridge.midi import print_ports
        return print_ports()
    # A wrong --sample-rate, --block-size or --lead-ms fails here, in one sentence (exit 2),
    # instead of as an engine that serves without sound because its device would not open.
    PlayerConfig.for_device(args.sample_rate, args.block_size, lead_ms=getattr(args, "lead_ms", None))
    # Before the server's loop takes the signals over (and while opening the device, which can take
    # seconds), SIGTERM interrupts like Ctrl-C instead of killing the process without cleanup.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _interrupt)
    audio = midi_in = None
    target: list = []  # the server, once it serves; MIDI events before that are dropped
    try:
        options = options_from_args(args)
        if getattr(args, "midi_in", None):  # before the device: a wrong name fails at once, in one sentence
            from bridge.midi import MidiInput
            latency_s = max(0.0, float(getattr(args, "midi_latency_ms", 0.0))) / 1000.0
            midi_in = MidiInput(args.midi_in, lambda address, margs: target and target[0].inject(
                "MIDI in", address, margs, time.time() + latency_s if latency_s else None))
            print(f"distill serve: MIDI in from {midi_in.describe()}", file=sys.stderr)
        from bridge.plugins import PluginFolders
        folders = PluginFolders.make(getattr(args, "plugins_dirs", ()))
        audio = open_bridge_audio(args.device, args.sample_rate, args.block_size, options.clips_dir, folders,
                                  device_process=not getattr(args, "device_in_process", False),
                                  lead_ms=getattr(args, "lead_ms", None))
        if getattr(args, "link", False):
            try:
                peers = audio.link(True, True)
                print(f"distill serve: Ableton Link on ({peers} peers)", file=sys.stderr)
            except InputError as e:
                print(f"distill serve: --link: {e}", file=sys.stderr)
        if getattr(audio, "bridge", None) is not None and audio.bridge.device is not None:
            raise_thread_priority(DISPATCHER_RT_PRIORITY)  # this thread becomes the OSC dispatcher
        return run_server(options, audio, on_ready=lambda server: target.append(server) if midi_in else None)
    except KeyboardInterrupt:
        return 0
    finally:
        if midi_in is not None:
            midi_in.close()
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the cleanup short
            signal.signal(sig, signal.SIG_IGN)
        close = getattr(audio, "close", None)
        if close is not None and close() is False:
            # A device or decoder that did not stop (a JACK server that went away leaves PortAudio
            # waiting forever): terminating PortAudio or the interpreter's exit would wait on it too.
            print("distill serve: the audio device did not stop (its server went away?); exiting without it",
                  file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        terminate_portaudio()  # this process owns PortAudio: its JACK client goes before exit does
        for sig, handler in handlers.items():  # run() in a process that goes on (a test, a script): ignored
            signal.signal(sig, handler)        # signals would be inherited by every child it starts


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def terminate_portaudio() -> None:
    """Releases PortAudio (and its JACK client) if this process loaded it, so that no PortAudio or
    JACK thread is alive at interpreter exit."""
    if "sounddevice" in sys.modules:
        from bridge import devices
        devices.terminate()


def open_bridge_audio(device: str | None, sample_rate: int, block_size: int, clips_dir: Path,
                      plugin_folders: Any = None, device_process: bool = True, lead_ms: float | None = None):
    """The bridge on `device`; with no device (None, or one that cannot open) the bridge still
    hosts the effect chain and renders through it, and transport says how to get sound. Without
    the bridge at all (PortAudio missing), `OfflineAudio`. `plugin_folders`: a
    `bridge.plugins.PluginFolders` (None: the standard VST3 folders only). `device_process`: the
    device side (producer, callback, live effects) runs in a process of its own (bridge/host.py).
    `lead_ms`: the audio kept ready ahead of the playhead (None: LEAD_MS; PlayerConfig.for_device)."""
    try:
        from bridge.bridge import Bridge
        device_arg: Any = int(device) if device and device.isdigit() else device
        # The stream opens once there is something to play (BridgeAudio._set_main), not while the
        # model loads: a device asking for blocks during the load was what underran at start-up.
        bridge = Bridge(device_arg, sample_rate, block_size, clips_dir=str(clips_dir), play_audio=device is not None,
                        plugin_folders=plugin_folders, defer_stream=True, device_process=device_process,
                        lead_ms=lead_ms)
    except (ImportError, OSError, InputError) as e:
        print(f"distill serve: the bridge is unavailable ({e}); serving OSC and rendering only",
              file=sys.stderr)
        return OfflineAudio(f"no audio device ({e})")
    if device is not None and bridge.device is None:
        print(f"distill serve: audio device {device!r}: {bridge.message}; serving OSC and rendering only",
              file=sys.stderr)
    return BridgeAudio(bridge)
