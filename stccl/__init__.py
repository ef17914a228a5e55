"""stccl: speech-preserving facial expression manipulation with STCCL."""

__version__ = "0.1.0"

__all__ = ["Editor", "STCCLLoss", "__version__"]


def __getattr__(name: str):  # imported lazily: `import stccl` stays light (no torch)
    if name == "Editor":
        from .edit.editor import Editor

        return Editor
    if name == "STCCLLoss":
        from .loss import STCCLLoss

        return STCCLLoss
    raise AttributeError(f"module 'stccl' has no attribute {name!r}")
