"""stccl: speech-preserving facial expression manipulation with STCCL."""

__version__ = "0.1.0"
