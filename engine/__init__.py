"""Distill engine: audio -> mel -> RVQ codes -> (edits) -> codes -> mel -> audio.

Headless: never imports `sounddevice` or `bridge`. Import submodules directly (`engine.audio`,
`engine.model`, ...); this package imports nothing eagerly so that the torch-free live decoder
(`engine.runtime`) stays torch-free.
"""
