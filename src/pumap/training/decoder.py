"""The optional decoder: maps embeddings back to the input space, for `inverse_transform`.

A decoder predicts the *standardised* input (what the encoder sees) from the embedding;
`inverse_decode` undoes the standardisation, so `FittedUmap.inverse_transform` returns data
in the original units. It is trained in one of two ways (``UmapConfig.reconstruction_weight``):

* ``0``: after the encoder, as its own stage (`train_decoder`): the encoder is frozen and
  the decoder regresses ``decoder(encoder(x))`` onto the standardised ``x`` (mean squared
  error) for ``decoder_epochs`` passes over the data;
* ``> 0``: with the encoder (`reconstruction_term`): that weighted error is added to the UMAP
  loss of every training step, so the embedding itself is shaped to be invertible
  (Sainburg et al. 2021's joint training); the decoder then also gets the separate stage,
  starting from its jointly trained weights, to fit the final encoder exactly.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from ..config import UmapConfig
from ..data.preprocess import Standardizer
from .encoder import MLP, build_encoder
from .trainer import LossTerm, TrainingDiverged

# Rows of the standardised input whose reconstruction a joint training step adds to the loss.
RECONSTRUCTION_ROWS = 4096
# The separate stage: Adam on minibatches of this many rows, for about DECODER_STEPS steps
# (`auto_decoder_epochs`), the learning rate decaying linearly to zero.
DECODER_BATCH = 256
DECODER_STEPS = 6000
DECODER_EPOCHS_RANGE = (5, 200)
# Adam's initial learning rate in that stage. On MNIST (8,000 rows, one fitted encoder, 200
# epochs) 1e-3 gave a held-out MSE of 0.0441 against 0.0468 for the encoder's 3e-3.
DECODER_LEARNING_RATE = 1e-3


def build_decoder(
    n_components: int, hidden_layers: tuple[int, ...], n_features: int, generator: torch.Generator
) -> MLP:
    """The default decoder: the encoder's MLP mirrored, ``n_components`` -> ``n_features``.

    Its hidden layers are the encoder's in reverse order; the initial weights come from
    ``generator``.
    """
    return build_encoder(n_components, tuple(reversed(hidden_layers)), n_features, generator)


def decoder_argument(decoder: Any, options: dict[str, Any]) -> nn.Module | None:
    """Check `Umap`'s ``decoder`` argument, set the ``decoder`` option in ``options`` from
    it (when given) and return the module to train, if it is one."""
    if decoder is None:
        return None
    if not isinstance(decoder, (bool, nn.Module)):
        raise TypeError(
            f"decoder must be True, False or a torch.nn.Module, got {type(decoder).__name__}"
        )
    options["decoder"] = decoder is not False
    return decoder if isinstance(decoder, nn.Module) else None


def make_decoder(
    cfg: UmapConfig,
    template: nn.Module | None,
    n_features: int,
    seed: int,
    device: torch.device,
) -> nn.Module | None:
    """The decoder a fit trains (a deep copy of ``template``, else `build_decoder`'s MLP
    seeded from ``seed + 1``), on ``device``; None unless ``cfg.decoder``."""
    if not cfg.decoder:
        return None
    decoder = copy.deepcopy(template)  # never train the caller's module in place
    if decoder is None:
        init = torch.Generator().manual_seed(seed + 1)  # not the encoder's initial weights
        decoder = build_decoder(cfg.n_components, cfg.hidden_layers, n_features, init)
    return decoder.to(device).train()


def joint_terms(
    cfg: UmapConfig,
    encoder: nn.Module,
    decoder: nn.Module | None,
    inputs: torch.Tensor,
    generator: torch.Generator,
) -> tuple[LossTerm, ...]:
    """The loss terms joint training adds (`reconstruction_term`), if it is asked."""
    if decoder is None or cfg.reconstruction_weight <= 0:
        return ()
    return (reconstruction_term(encoder, decoder, inputs, cfg.reconstruction_weight, generator),)


def decoder_stage(
    cfg: UmapConfig,
    encoder: nn.Module,
    decoder: nn.Module,
    inputs: torch.Tensor,
    generator: torch.Generator,
) -> list[float]:
    """The decoder's own stage after the encoder's training: `train_decoder` for
    ``cfg.decoder_epochs`` (automatic if None; 0 skips it) at `DECODER_LEARNING_RATE`."""
    epochs = cfg.decoder_epochs
    if epochs is None:
        epochs = auto_decoder_epochs(inputs.shape[0])
    if epochs == 0:
        decoder.eval()
        return []
    return train_decoder(
        encoder,
        decoder,
        inputs,
        epochs=epochs,
        learning_rate=DECODER_LEARNING_RATE,
        generator=generator,
    )


def module_spec(module: nn.Module) -> dict[str, Any]:
    """A JSON-able description of ``module``: an `MLP`'s spec, or the class of a custom one."""
    if type(module) is MLP:
        return module.spec()
    cls = type(module)
    return {"type": "custom", "class": f"{cls.__module__}.{cls.__qualname__}"}


def auto_decoder_epochs(n_samples: int) -> int:
    """Passes over ``n_samples`` rows for about `DECODER_STEPS` steps of `DECODER_BATCH` rows,
    within `DECODER_EPOCHS_RANGE`."""
    low, high = DECODER_EPOCHS_RANGE
    steps = max(1, math.ceil(n_samples / DECODER_BATCH))
    return int(min(high, max(low, math.ceil(DECODER_STEPS / steps))))


def reconstruction_term(
    encoder: nn.Module,
    decoder: nn.Module,
    inputs: torch.Tensor,
    weight: float,
    generator: torch.Generator,
    rows: int = RECONSTRUCTION_ROWS,
) -> LossTerm:
    """The joint-training term: ``weight`` times the mean squared reconstruction error of
    ``min(n, rows)`` rows of ``inputs`` drawn (with replacement) from ``generator``.

    ``generator`` is the fit's own: the trainer saves its state in checkpoints, so a resumed
    fit draws the same rows as one that never stopped.
    """
    n = inputs.shape[0]
    m = min(n, rows)

    def loss() -> torch.Tensor:
        index = torch.randint(n, (m,), generator=generator, device=inputs.device)
        batch = inputs.index_select(0, index)
        return weight * torch.mean((decoder(encoder(batch)) - batch) ** 2)

    return LossTerm(loss, tuple(decoder.parameters()))


def train_decoder(
    encoder: nn.Module,
    decoder: nn.Module,
    inputs: torch.Tensor,
    *,
    epochs: int,
    learning_rate: float,
    generator: torch.Generator,
    batch_size: int = DECODER_BATCH,
) -> list[float]:
    """Train ``decoder`` alone to map ``encoder(inputs)`` back to ``inputs``; return each
    epoch's mean squared error.

    The encoder is not changed: its embedding of ``inputs`` is computed once. Adam with
    ``learning_rate`` decaying linearly to zero; minibatch order from ``generator``.

    Raises
    ------
    TrainingDiverged
        If an epoch's error is not finite.
    """
    with torch.no_grad():
        was_training = encoder.training
        encoder.eval()
        codes = torch.cat([encoder(inputs[i : i + 65536]) for i in range(0, len(inputs), 65536)])
        encoder.train(was_training)
    decoder.train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=learning_rate)
    n = inputs.shape[0]
    per_epoch = max(1, math.ceil(n / batch_size))
    total = per_epoch * epochs
    step = 0
    losses = []
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=generator, device=generator.device).to(inputs.device)
        running = torch.zeros((), device=inputs.device)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            for group in optimizer.param_groups:
                group["lr"] = learning_rate * (1.0 - step / total)
            target = inputs.index_select(0, index)
            loss = torch.mean((decoder(codes.index_select(0, index)) - target) ** 2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.detach() * index.numel()
            step += 1
        mse = float(running) / n
        if not math.isfinite(mse):
            raise TrainingDiverged(
                f"the decoder's reconstruction error became {mse} in its epoch {epoch}; "
                "check the input's scale"
            )
        losses.append(mse)
    decoder.eval()
    return losses


@torch.inference_mode()
def inverse_decode(
    decoder: nn.Module,
    standardizer: Standardizer,
    y: torch.Tensor,
    batch_size: int,
    n_features: int,
) -> torch.Tensor:
    """``decoder(y)`` in the original units (the standardisation undone), in batches."""
    first = next(decoder.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    out = torch.empty((y.shape[0], n_features), dtype=torch.float32, device=device)
    mean = standardizer.mean.to(device)
    std = standardizer.std.to(device)
    for start in range(0, y.shape[0], batch_size):
        chunk = y[start : start + batch_size].to(device)
        out[start : start + chunk.shape[0]] = torch.addcmul(mean, decoder(chunk), std)
    return out
