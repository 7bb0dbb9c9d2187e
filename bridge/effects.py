"""The effects host: pedalboard built-ins by name and VST3 plugins by path, run in order.

A chain is data (`to_dict()` / `from_dict()`, JSON-safe, saved in the editor session) plus the
loaded plugin instances. `process(block, sample_rate, reset=False)` streams block by block and
equals one offline call over the whole signal. The signal enters mono [1, T]; a stereo-only plugin
(ZamCompX2) gets the mono signal on both channels and makes the rest of the chain stereo; a
mono-only plugin (ZamComp) on a stereo signal runs as two instances, one per channel ("dual mono").
A bypassed slot still makes that channel change, so bypassing never changes the channel count.

Not thread-safe: the bridge guards a live chain with one lock that the producer thread holds for
one block at a time; the audio callback never touches a chain.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pedalboard

from bridge.plugins import PluginFolders, load_vst3
from engine.errors import InputError
from engine.facts import EFFECT_KINDS

BUILTINS = EFFECT_KINDS  # pedalboard built-ins that stream exactly (engine/facts.py)
CHAIN_FORMAT = 1
PROBE_RATE = 48000


@dataclass
class Slot:
    """One effect: `plugin` is a built-in name or a .vst3 path; `params` are the values set by the user."""

    plugin: str
    params: dict = field(default_factory=dict)
    bypass: bool = False
    instances: list = field(default_factory=list)  # 1, or 2 for dual mono
    accepts: tuple[int, ...] = (1, 2)              # input channel counts the plugin takes

    @property
    def is_vst3(self) -> bool:
        return self.plugin not in BUILTINS

    def out_channels(self, channels: int) -> int:
        return 2 if channels == 2 or 1 not in self.accepts else 1

    def spec(self) -> dict:
        return {"plugin": self.plugin, "params": dict(self.params), "bypass": self.bypass}


def _load_instance(plugin: str, folders: PluginFolders | None):
    """A fresh instance; a VST3 only from inside the plugin folders (default: the standard ones)."""
    if plugin in BUILTINS:
        return getattr(pedalboard, plugin)()
    if Path(plugin).suffix.lower() != ".vst3":
        raise InputError(f"effect {plugin!r}: not a built-in ({', '.join(BUILTINS)}) nor a .vst3 path")
    path = (folders or PluginFolders.make()).check(plugin)  # before any of its code can run
    try:
        return load_vst3(path)  # the checked, resolved path, on the one loader thread
    except Exception as e:  # pedalboard raises ImportError/RuntimeError with long texts
        raise InputError(f"effect {plugin}: could not load ({str(e).splitlines()[0][:160]})") from None


def _probe_channels(instance) -> tuple[int, ...]:
    """Input channel counts a VST3 accepts, by processing a little silence (then resetting it)."""
    accepts = []
    for channels in (1, 2):
        try:
            instance(np.zeros((channels, 64), np.float32), PROBE_RATE, reset=True)
            accepts.append(channels)
        except Exception:
            continue
    instance.reset()
    if not accepts:
        raise InputError(f"effect {getattr(instance, 'name', instance)}: takes neither mono nor stereo input")
    return tuple(accepts)


def parameter_names(instance) -> list[str]:
    """Names a plugin's parameters go by, with units as pedalboard writes them (threshold_db, ...)."""
    if isinstance(instance, pedalboard.VST3Plugin):
        return list(instance.parameters)
    cls = type(instance)
    return sorted(a for a in dir(cls) if isinstance(getattr(cls, a, None), property)
                  and a not in ("is_effect", "is_instrument"))


def _json_value(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.floating, np.integer)):
        return float(value)
    return str(value)


def _set(instance, plugin: str, name: str, value) -> None:
    if name not in parameter_names(instance):
        raise InputError(f"effect {plugin}: no parameter {name!r} (has: {', '.join(parameter_names(instance))})")
    try:
        setattr(instance, name, value)
    except Exception as e:
        raise InputError(f"effect {plugin}: {name}={value!r} refused ({str(e).splitlines()[0][:160]})") from None


class EffectsChain:
    """Ordered effect slots. # process: [C, T] -> [C', T], C' = output_channels(C)

    `folders`: where VST3 plugins may load from (bridge/plugins.py; None: the standard folders)."""

    def __init__(self, slots: list[Slot] | None = None, folders: PluginFolders | None = None) -> None:
        self.slots: list[Slot] = slots or []
        self.folders = folders

    # ---- building (may load plugins: call outside any real-time thread) ----
    @staticmethod
    def load_slot(plugin: str, params: dict | None = None, bypass: bool = False,
                  folders: PluginFolders | None = None) -> Slot:
        """Loads one plugin and applies params; raises InputError naming the plugin or parameter
        (or the plugin folders, for a VST3 outside them)."""
        if not isinstance(plugin, str) or not plugin:
            raise InputError("effect: 'plugin' must be a built-in name or a .vst3 path")
        instance = _load_instance(plugin, folders)
        slot = Slot(plugin=plugin, bypass=bool(bypass), instances=[instance])
        if isinstance(instance, pedalboard.VST3Plugin):
            slot.accepts = _probe_channels(instance)
        for name, value in (params or {}).items():
            _set(instance, plugin, name, value)
            slot.params[name] = _json_value(value)
        return slot

    def planned(self) -> "EffectsChain":
        """Loads the second instances dual-mono slots need for the current order; returns self."""
        channels = 1
        for slot in self.slots:
            if channels == 2 and slot.accepts == (1,) and len(slot.instances) < 2:
                twin = _load_instance(slot.plugin, self.folders)
                for name, value in slot.params.items():
                    _set(twin, slot.plugin, name, value)
                slot.instances.append(twin)
            channels = slot.out_channels(channels)
        return self

    def output_channels(self, channels: int = 1) -> int:
        for slot in self.slots:
            channels = slot.out_channels(channels)
        return channels

    @classmethod
    def from_dict(cls, data: dict, folders: PluginFolders | None = None) -> "EffectsChain":
        """Rebuilds a chain (fresh plugin state) from `to_dict()` output (a session, a file): its
        VST3 plugins load only from `folders`."""
        if not isinstance(data, dict) or not isinstance(data.get("slots"), list):
            raise InputError("effects chain: expected {'format': 1, 'slots': [...]}")
        if data.get("format", CHAIN_FORMAT) != CHAIN_FORMAT:
            raise InputError(f"effects chain: format {data.get('format')!r} is not {CHAIN_FORMAT}")
        slots = []
        for i, spec in enumerate(data["slots"]):
            if not isinstance(spec, dict) or "plugin" not in spec:
                raise InputError(f"effects chain slot {i}: needs a 'plugin'")
            params = spec.get("params") or {}
            if not isinstance(params, dict):
                raise InputError(f"effects chain slot {i}: 'params' must be an object of name: value")
            slots.append(cls.load_slot(spec["plugin"], params, spec.get("bypass", False), folders))
        return cls(slots, folders).planned()

    def to_dict(self) -> dict:
        """JSON-safe description: {"format": 1, "slots": [{"plugin", "params", "bypass"}, ...]}."""
        return {"format": CHAIN_FORMAT, "slots": [slot.spec() for slot in self.slots]}

    def fresh_copy(self) -> "EffectsChain":
        """Same chain with newly loaded instances (reset state), e.g. for an offline render."""
        return EffectsChain.from_dict(copy.deepcopy(self.to_dict()), self.folders)

    # ---- live edits (cheap: safe between two blocks) ----
    def slot(self, index: int) -> Slot:
        if not isinstance(index, int) or not 0 <= index < len(self.slots):
            raise InputError(f"effects slot {index!r}: out of range (chain has {len(self.slots)} slots)")
        return self.slots[index]

    def set_param(self, index: int, name: str, value) -> None:
        slot = self.slot(index)
        for instance in slot.instances:
            _set(instance, slot.plugin, name, value)
        slot.params[name] = _json_value(value)

    def set_bypass(self, index: int, bypass: bool) -> None:
        self.slot(index).bypass = bool(bypass)

    def describe(self) -> list[dict]:
        """Every slot with all its current parameter values (not only the ones set)."""
        out = []
        for i, slot in enumerate(self.slots):
            instance = slot.instances[0]
            values = {n: _json_value(getattr(instance, n)) for n in parameter_names(instance)}
            out.append({"index": i, "name": Path(slot.plugin).stem if slot.is_vst3 else slot.plugin,
                        **slot.spec(), "values": values, "vst3": slot.is_vst3,
                        "channels_in": list(slot.accepts)})
        return out

    # ---- processing ----
    def reset(self) -> None:
        for slot in self.slots:
            for instance in slot.instances:
                instance.reset()

    def process(self, block: np.ndarray, sample_rate: int, reset: bool = False) -> np.ndarray:
        """Runs block [C, T] (C 1 or 2) through the slots in order. # -> [C', T]"""
        x = np.ascontiguousarray(block, dtype=np.float32)
        for slot in self.slots:
            channels = x.shape[0]
            if channels == 1 and 1 not in slot.accepts:
                x = np.repeat(x, 2, axis=0)  # a stereo-only plugin: mono on both sides
            if slot.bypass:
                continue
            if x.shape[0] in slot.accepts:
                x = slot.instances[0](x, sample_rate, reset=reset)
            else:  # stereo into a mono-only plugin: one instance per channel
                if len(slot.instances) < 2:
                    raise RuntimeError(f"effect {slot.plugin}: dual mono needs planned() before process()")
                x = np.concatenate([inst(x[c:c + 1], sample_rate, reset=reset)
                                    for c, inst in enumerate(slot.instances[:2])])
        return x
