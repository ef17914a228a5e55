"""stccl: speech-preserving facial expression manipulation with STCCL."""

__version__ = "0.1.0"

__all__ = ["Editor", "__version__"]


def __getattr__(name: str):
    if name == "Editor":  # imported lazily: `import stccl` stays light
        from .edit.editor import Editor

        return Editor
    raise AttributeError(f"module 'stccl' has no attribute {name!r}")
