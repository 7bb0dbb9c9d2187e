"""Prior: the code language model, its training, sampling and generation.

`network` (`Prior`, torch), `train` (`train_prior`, `add_prior`), `sampling` (the knobs and the
filters, numpy), `generate` (the one generation loop, numpy: it runs the torch prior and the ONNX
`engine.live.prior.LivePrior` alike), `memorisation` (how close generations come to training clips).

May import: codec, signal and the engine core. `sampling` and `generate` never import torch.
"""
