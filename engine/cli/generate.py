"""distill generate MODEL --seconds S --out FILE: new sound sampled from the model's prior."""
from __future__ import annotations

import numpy as np

from engine.cli.common import Progress
from engine.codes import Codes, save_codes
from engine.prior.generate import MAX_DURATION_S, frames_for_seconds, generate
from engine.prior.sampling import Sampling
from engine.signal.audio import save_audio

HELP = "generate new sound from a trained model's prior"


def add_arguments(p) -> None:
    defaults = Sampling()
    p.add_argument("model", metavar="MODEL", help="trained model (.distill)")
    p.add_argument("--seconds", type=float, required=True, help=f"duration, above 0 and at most {MAX_DURATION_S:g}")
    p.add_argument("--out", required=True, metavar="FILE", help="audio file to write (wav, flac, aiff)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same sound (default 0)")
    p.add_argument("--creativity", type=float, default=None,
                   help=f"sampling temperature, above 0; higher is wilder (default {defaults.temperature})")
    p.add_argument("--focus", type=int, default=None,
                   help="top-k: keep only the K likeliest codes each step; 0 is off (default 0)")
    p.add_argument("--diversity", type=float, default=None,
                   help=f"top-p in (0, 1]: keep the likeliest codes holding this share of probability "
                        f"(default {defaults.top_p})")
    p.add_argument("--codes-out", default=None, metavar="CODES.json", help="also write the generated codes")
    p.add_argument("--fast", action="store_true",
                   help="render through the live decoder (ONNX + PGHI, what `distill serve` plays): about "
                        "2.4x faster than the default offline-quality render")


def run(args) -> int:
    sampling = Sampling.from_plain_words(args.creativity, args.focus, args.diversity)  # bad values: exit 2
    frames_for_seconds(args.seconds, 1.0)  # checks the range before loading anything
    import torch

    from engine.codec.model import Model

    torch.set_num_threads(1)  # small models: on a busy 2-core CPU one thread is faster than two
    from engine.prior.network import Prior

    model = Model.load(args.model)
    prior = Prior.from_bundle(model.bundle)
    n_frames = frames_for_seconds(args.seconds, model.code_frame_rate_hz)
    bar = Progress("distill generate", total=1.0)
    indices = generate(prior, n_frames, sampling, seed=args.seed,
                       progress=lambda done, total: bar.update(0.8 * done / total, f"sampling frame {done}/{total}"))
    codes = Codes(indices, model.config.codec.codebook_size, model.code_frame_rate_hz, model.model_id)
    bar.update(0.8, "rendering")
    if args.fast:
        from engine.live.decoder import LiveDecoder
        from engine.signal.audio import Audio
        audio = Audio(LiveDecoder(model.bundle).render(codes), model.config.audio.sample_rate)
    else:
        audio = model.render(codes)
    bar.close()
    n_samples = int(round(args.seconds * audio.sample_rate))  # exactly the asked duration
    samples = np.pad(audio.samples[:n_samples], (0, max(0, n_samples - len(audio.samples))))
    save_audio(args.out, samples, audio.sample_rate, bit_depth="float")
    if args.codes_out:
        save_codes(args.codes_out, codes)
    print(args.out)
    return 0

