"""The training stage: the fuzzy graph and standardised ``X`` in, a trained encoder (and
decoder), the loss per epoch and Adam's state out.

`encoder` and `decoder` are the networks, `warmstart` the PCA start, `sampler` and `loss` one
step's edges and objective, `trainer` the loop, `checkpoint` and `checkpoint_file` resumable
states, `distributed` the torchrun data-parallel fit, `fit_stages` and `progress` the
bookkeeping, and `continued` with `landmarks` and `optimizer_state` what ``fit_more`` trains.
"""
