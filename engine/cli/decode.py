"""distill decode MODEL CODES.json --out FILE: a codes file back to audio (codes of this model only)."""
from __future__ import annotations

from engine.codes import load_codes
from engine.signal.audio import save_audio

HELP = "decode a codes file made by this model to audio"


def add_arguments(p) -> None:
    p.add_argument("model", metavar="MODEL", help="trained model (.distill)")
    p.add_argument("codes", metavar="CODES.json", help="codes file (from encode, generate --codes-out or the editor)")
    p.add_argument("--out", required=True, metavar="FILE", help="audio file to write (wav, flac, aiff)")


def run(args) -> int:
    import torch

    from engine.codec.model import Model

    torch.set_num_threads(1)  # small models: on a busy 2-core CPU one thread is faster than two

    codes = load_codes(args.codes)
    model = Model.load(args.model)
    audio = model.render(codes)  # refuses codes of another model, naming both ids
    save_audio(args.out, audio, bit_depth="float")
    print(args.out)
    return 0
