"""distill encode MODEL AUDIO --out CODES.json: an audio file's codes, for editing or continuation."""
from __future__ import annotations

from engine.codes import save_codes
from engine.signal.audio import load_audio

HELP = "encode an audio file to a codes file (levels x frames)"


def add_arguments(p) -> None:
    p.add_argument("model", metavar="MODEL", help="trained model (.distill)")
    p.add_argument("audio", metavar="AUDIO", help="audio file to encode")
    p.add_argument("--out", required=True, metavar="CODES.json", help="codes file to write")


def run(args) -> int:
    import torch

    from engine.codec.model import Model

    torch.set_num_threads(1)  # small models: on a busy 2-core CPU one thread is faster than two

    model = Model.load(args.model)
    audio = load_audio(args.audio, model.config.audio.sample_rate, model.config.audio.min_duration_s,
                       model.config.audio.max_file_duration_s)
    codes = model.encode(audio)
    save_codes(args.out, codes)
    print(f"{args.out}: {codes.levels} levels x {codes.n_frames} frames ({codes.duration_s:.2f} s)")
    return 0
