"""Workflow: whole-model jobs the CLI and the server both call, as plain functions.

`pipeline` (`train_model`: codec, prior, export, labels, plots; `export_model`), `plots` (training
pictures from a report), `quality` (ViSQOL MOS of the torch and live renders vs the mel ceiling,
the continuous baseline and Opus), `likeness` (generated vs real sound). docs/quality.md.

May import: edit, live, prior, codec, signal and the engine core.
"""
