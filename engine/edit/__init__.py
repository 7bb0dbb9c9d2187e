"""Edit: the sound-DNA editor, pure values and one service.

`ops` (edits `Codes -> Codes`, regenerate, encode, audition), `session` (the undoable session
file), `labels` and `descriptors` (what each code sounds like), `moves` (perceptual moves),
`midi` (MIDI as data), `service` (`EditService`: every editing use case once; OSC, WebSocket and
`distill edit` are adapters over it).

May import: live, prior, codec, signal and the engine core.
"""
