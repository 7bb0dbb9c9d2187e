"""Live: ONNX export and the torch-free runtime that `distill serve` plays from.

`export` (decoder and prior to ONNX, parity checked; torch), `prior_export` (the prior's step and
depth graphs), `decoder` (`LiveDecoder`, `LiveLoop`, `LiveModel`: codes -> audio with ONNX Runtime
and PGHI, torch-free), `prior` (`LivePrior`: the ONNX prior, torch-free).

May import: prior, codec, signal and the engine core. `decoder` and `prior` never import torch at
run time (they reach the torch model lazily, only for what the ONNX path cannot do).
"""
