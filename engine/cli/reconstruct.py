"""distill reconstruct MODEL IN OUT: audio through the codec and back (hear what the codes keep)."""
from __future__ import annotations

from engine.codec.model import Model
from engine.signal.audio import load_audio, save_audio

HELP = "encode an audio file to codes and decode it back to audio"


def add_arguments(p) -> None:
    p.add_argument("model", metavar="MODEL")
    p.add_argument("input", metavar="IN", help="audio file to reconstruct")
    p.add_argument("output", metavar="OUT", help="audio file to write (wav, flac, aiff)")


def run(args) -> int:
    model = Model.load(args.model)
    audio = load_audio(args.input, model.config.audio.sample_rate, model.config.audio.min_duration_s,
                       model.config.audio.max_file_duration_s)
    save_audio(args.output, model.reconstruct(audio), bit_depth="float")
    print(args.output)
    return 0
