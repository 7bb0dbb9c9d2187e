"""The engine as a background server: OSC over UDP and JSON over a WebSocket, both derived from
the route table in `engine/protocol.py`. See docs/server.md.

Boundary: this package drives the engine (models, sessions, edits, generation) and talks to the
audio side only through `ports.AudioPort`; it never imports `bridge` or `sounddevice` (the
composition root `bridge/serve.py` plugs the bridge in).
"""
