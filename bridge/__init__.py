"""The real-time side of Distill: audio blocks into a device, an effects host, clips for the DAW.

`Bridge` (bridge/bridge.py) is the facade the OSC server uses; docs/bridge.md documents it.
Only numpy, sounddevice, pedalboard and engine's public modules are used here.
"""
