"""Output devices through sounddevice/PortAudio: find one by name or index, name the JACK client.

PortAudio lists host APIs once, when it initialises (at `import sounddevice`): a JACK server started
later is invisible until `refresh()` re-initialises it. Never refresh while a stream is open.
"""
from __future__ import annotations

import ctypes

import sounddevice as sd

from engine.errors import InputError

_client_name = None  # PortAudio keeps the pointer: the buffer must live as long as the process


def refresh(jack_client_name: str | None = None) -> None:
    """Re-initialises PortAudio so it sees servers started since import; optionally names the JACK
    client (its ports become NAME:out_0, NAME:out_1 instead of PortAudio:out_0...)."""
    global _client_name
    terminate()
    if jack_client_name:
        _client_name = ctypes.create_string_buffer(jack_client_name.encode())
        try:
            ctypes.CDLL(sd._libname).PaJack_SetClientName(_client_name)
        except (OSError, AttributeError):
            pass  # a PortAudio built without JACK: nothing to name
    sd._initialize()


def terminate() -> None:
    """Releases PortAudio (and its JACK client). Do this before a JACK server you started stops:
    otherwise Python aborts on exit (code 134)."""
    while sd._initialized:
        sd._terminate()


def jack_client_name() -> str | None:
    """The JACK client name PortAudio uses in this process, when it was set with refresh()."""
    return _client_name.value.decode() if _client_name is not None else None


def actual_jack_client_name() -> str | None:
    """The name JACK gave PortAudio's client (JACK appends -01... when the asked name is taken)."""
    try:
        name = ctypes.c_char_p()
        lib = ctypes.CDLL(sd._libname)
        lib.PaJack_GetClientName.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        if lib.PaJack_GetClientName(ctypes.byref(name)) == 0 and name.value:
            return name.value.decode()
    except (OSError, AttributeError):
        pass
    return None


def jack_ports(client: str | None) -> list[str]:
    """Output ports of JACK `client` (NAME:out_N), by number; [] when JACK tools are absent."""
    import shutil
    import subprocess
    if not client or shutil.which("jack_lsp") is None:
        return []
    listed = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10).stdout.split()
    ports = [p for p in listed if p.startswith(f"{client}:out_")]
    return sorted(ports, key=lambda p: int(p.rsplit("_", 1)[1]) if p.rsplit("_", 1)[1].isdigit() else 0)


def output_devices() -> list[dict]:
    """Every device with output channels: {index, name, hostapi, channels, default_sample_rate}."""
    devices = []
    try:
        listed = sd.query_devices()
        apis = sd.query_hostapis()
    except Exception:
        return devices
    for d in listed:
        if d["max_output_channels"] > 0:
            devices.append({"index": d["index"], "name": d["name"], "hostapi": apis[d["hostapi"]]["name"],
                            "channels": d["max_output_channels"],
                            "default_sample_rate": d["default_samplerate"]})
    return devices


def find_output(device: str | int | None) -> dict | None:
    """The device to play on: None = the default output (or None when there is none); an int is an
    index; a string matches a device name exactly, else as a case-insensitive substring."""
    devices = output_devices()
    if device is None:
        try:
            default = sd.default.device[1]
        except Exception:
            default = -1
        by_index = {d["index"]: d for d in devices}
        if default is not None and default >= 0 and default in by_index:
            return by_index[default]
        jack = [d for d in devices if "JACK" in d["hostapi"]]
        return (jack or devices or [None])[0]
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        for d in devices:
            if d["index"] == int(device):
                return d
        raise InputError(f"device {device}: no output device with that index ({_names(devices)})")
    exact = [d for d in devices if d["name"] == device]
    partial = [d for d in devices if device.lower() in d["name"].lower()]
    if exact or len(partial) == 1:
        return (exact or partial)[0]
    if partial:
        raise InputError(f"device {device!r}: matches several ({_names(partial)}); use an index")
    raise InputError(f"device {device!r}: no such output device ({_names(devices)})")


def _names(devices: list[dict]) -> str:
    return "; ".join(f"{d['index']}: {d['name']}" for d in devices) or "none available"
