"""Training: the stages (metric, generator, classifier, prototypes) on one Trainer.

    from stccl.train import run
    run("prepared/mead", "runs/mead", preset="tiny", overrides={"metric.train.lr": 1e-4})

Importing this package does not import torch; a stage's trainer imports it when it runs.
"""

from .runner import run

__all__ = ["run"]
