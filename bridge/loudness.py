"""Integrated loudness (BS.1770, LUFS): lives in `engine.signal.loudness`, so that every render path, with
or without the bridge, normalises the same way; this name stays for the bridge's callers."""
from engine.signal.loudness import _impulse_response, integrated_loudness, k_weighting_coefficients  # noqa: F401
