"""distill demo: the main job on the bundled default model.

Synthesises the demo sounds (plucks, bells, hits, textures), reconstructs each through the demo
model and writes original and reconstruction side by side as WAVs, so you hear what the codes
keep before training anything of your own.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from engine.cli.common import Progress
from engine.cli.demo_sounds import write_demo_sounds
from engine.codec.model import Model
from engine.signal.audio import load_audio, save_audio

HELP = "reconstruct the demo sounds through the bundled demo model and write WAVs"
DEMO_MODEL = Path(__file__).resolve().parents[2] / "models" / "demo.distill"


def add_arguments(p) -> None:
    p.add_argument("--model", default=str(DEMO_MODEL), help="model file (default: the bundled demo model)")
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for the WAVs (default out/demo)")
    p.add_argument("--count-per-kind", type=int, default=2)


def run(args) -> int:
    model = Model.load(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        sounds = write_demo_sounds(Path(tmp), seed=1, count_per_kind=args.count_per_kind)
        with Progress("distill demo", total=len(sounds)) as bar:
            for path in sounds:
                bar.note(path.stem)
                audio = load_audio(path, model.config.audio.sample_rate)
                save_audio(args.out / f"{path.stem}-original.wav", audio)
                save_audio(args.out / f"{path.stem}-distilled.wav", model.reconstruct(audio))
                written.append(args.out / f"{path.stem}-distilled.wav")
                bar.advance(1)
    for path in written:  # after the bar, so a terminal shows them whole
        print(path)
    print(f"wrote {2 * 4 * args.count_per_kind} WAVs to {args.out}: compare *-original.wav with *-distilled.wav")
    return 0
