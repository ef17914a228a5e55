"""Training: one Trainer (resume, AMP, DDP, checkpoints, logs) and the per-stage tasks."""
