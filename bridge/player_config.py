"""`PlayerConfig`: the device side's settings (bridge/player.py), every length in device frames or ms."""
from __future__ import annotations

from dataclasses import dataclass

from engine.errors import InputError
from engine.signal.clips import LOOP_SEAM_MS

import math

DEVICE_RATES = (44100, 48000, 96000)
LEAD_MS = 30.0  # audio ready ahead of the playhead, in time (6 blocks at 256 frames, 12 at 128): on
#                 this 2-core VM the CPUs are taken away for 5-30 ms at a time while both are busy,
#                 and a device process's Python thread holding the GIL on a stalled CPU holds the
#                 producer and the callback (docs/bridge.md, "Stalls of the whole machine"). Measured
#                 in the device process, 10 min, 50 edits/s, a recorder connecting every 20 s, 256
#                 frames with `distill train` alongside, 3.2% steal: a 16 ms lead 20 underruns, 32 ms
#                 0. Earlier: 1 block 18 in 90 s; 2 blocks at 128 frames 8 in 10 min. Edits with an
#                 empty chain do not wait for it (Player._rewind); transport, MIDI and edits through
#                 effects do. serve --lead-ms sets it.
MAX_LEAD_MS = 500.0


@dataclass(frozen=True)
class PlayerConfig:
    """Device-side settings; every length is in device frames or milliseconds."""

    sample_rate: int = 48000  # the device rate; model audio is resampled to it
    block_size: int = 256     # frames per callback (64-2048)
    lead_blocks: int = 2      # blocks ready ahead (for_device: LEAD_MS); with effects, edit-to-ear
    #                           grows by one block per block
    ring_blocks: int = 8      # ring capacity in blocks
    ramp_ms: float = 5.0      # play/stop/gain ramps: long enough not to click, short enough to feel instant
    crossfade_ms: float = 5.0  # edits, seeks and loop jumps
    loop_seam_ms: float = LOOP_SEAM_MS  # the loop's end into its start (0: a hard cut); see mix_scene
    rewind_margin_ms: float = 1.0  # an edit rewrites blocks already in the ring only when the
    #                                callback that plays them is at least this far off (Player._rewind)

    def __post_init__(self) -> None:
        if not 8000 <= self.sample_rate <= 192000:
            raise InputError(f"sample_rate {self.sample_rate}: expected 8000-192000 (44100, 48000 or 96000)")
        if not 64 <= self.block_size <= 2048:
            raise InputError(f"block_size {self.block_size}: expected 64-2048 frames")
        if not 1 <= self.lead_blocks < self.ring_blocks:
            raise InputError(f"lead_blocks {self.lead_blocks}: expected 1..{self.ring_blocks - 1}")
        if not (0 < self.ramp_ms <= 1000 and 0 < self.crossfade_ms <= 1000):
            raise InputError("ramp_ms and crossfade_ms must be in (0, 1000]")
        if not 0 <= self.loop_seam_ms <= 1000:
            raise InputError(f"loop_seam_ms {self.loop_seam_ms}: expected 0-1000 ms")

    @classmethod
    def for_device(cls, sample_rate: int = 48000, block_size: int = 256, lead_blocks: int | None = None,
                   lead_ms: float | None = None, **settings) -> "PlayerConfig":
        """The settings for a device at `block_size`: `lead_blocks` None keeps `lead_ms` (None:
        LEAD_MS) of audio ready (at least 2 blocks), and the ring holds at least twice the lead."""
        block_size = int(block_size)
        if lead_blocks is None:
            lead_ms = LEAD_MS if lead_ms is None else float(lead_ms)
            if not 1.0 <= lead_ms <= MAX_LEAD_MS:
                raise InputError(f"lead_ms {lead_ms:g}: expected 1-{MAX_LEAD_MS:g} ms")
            lead_blocks = max(2, math.ceil(lead_ms * int(sample_rate) / 1000 / max(block_size, 1)))
        return cls(sample_rate=int(sample_rate), block_size=block_size, lead_blocks=int(lead_blocks),
                   ring_blocks=max(8, 2 * int(lead_blocks)), **settings)

    def frames(self, ms: float) -> int:
        return max(1, round(ms * self.sample_rate / 1000))
