"""Distill engine: audio -> mel -> RVQ codes -> (edits) -> codes -> mel -> audio.

Packages, bottom to top; each imports only the ones below it (tests/engine/test_layers.py):
    engine/*.py   the core: shared values (errors, atomic, jsonfile, config, facts, protocol, codes, bundle)
    signal        audio files, log-mel, phase reconstruction
    codec         the RVQ autoencoder, its training and measurement (torch)
    prior         the code language model, sampling and the one generation loop
    live          ONNX export and the torch-free runtime
    edit          the editor: pure edits, sessions, labels, moves, the editor service
    workflow      training, export and quality as plain calls
    server        the OSC / WebSocket server
    cli           `distill` and its commands

Headless: never imports `sounddevice` or `bridge`. Import modules directly (`engine.signal.audio`,
`engine.codec.model`, ...); no package imports anything eagerly, so the torch-free live decoder
(`engine.live.decoder`) stays torch-free.
"""
