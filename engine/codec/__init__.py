"""Codec: the RVQ autoencoder (mel <-> codes), its training and its measurement, in torch.

`quantizer` (the one adapter over vector-quantize-pytorch), `network` (the `Codec` network),
`model` (`Model`: torch inference over a bundle), `dataset`, `train` (`train_codec`), `health`
(codebook use), `evaluate` (codec quality, the continuous baseline).

May import: signal and the engine core.
"""
