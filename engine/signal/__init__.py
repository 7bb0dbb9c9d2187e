"""Signal: audio files, log-mel and phase reconstruction (numpy, pedalboard; never torch).

`audio` (files in and out), `mel` (log-mel and its pseudo-inverse), `stft` (the framing every phase
method shares), `griffin_lim`, `pghi` (phase-gradient integration), `stream` (PGHI streamed:
`pghi`, `PhaseStream`, `BlockReader`), `augment` (training augmentation), `loudness` (BS.1770),
`clips` (what every render path shares: voice mix, length, gain, -14 LUFS, clip names).

A phase reconstructor is any callable `(mel, cfg) -> Audio` (`stft.PhaseReconstructor`):
    griffin_lim        fast Griffin-Lim with momentum: the reference (32 iterations ~17x PGHI's cost)
    pghi               phase-gradient heap integration, one pass: the live method; streams
                       (`PhaseStream`, `BlockReader`) with the same samples as offline
    pghi_griffin_lim   PGHI as the start of 8 GL iterations: GL 32's quality at ~1/3 of its cost
Measurements and trade-offs: docs/decode.md.

May import: the engine core (`engine/*.py`). Nothing here imports another package of `engine`.
"""
