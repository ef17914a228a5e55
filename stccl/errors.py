"""One exception family. Messages are one line, written for people."""


class StcclError(Exception):
    """Base of every error stccl raises on purpose; the CLI prints it as one red line."""


class InputError(StcclError):
    """A bad argument or path given by the user."""


class VideoError(StcclError):
    """A file that cannot be read or written as video."""


class NoFaceError(StcclError):
    """No usable face was found."""


class WeightsError(StcclError):
    """Model weights are missing or do not fit the model."""


class DataError(StcclError):
    """A dataset or prepared dataset that is malformed or lacks what a step needs."""


class TrainingError(StcclError):
    """Training cannot go on (a non-finite loss, a run folder from another config)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so temp files are removed on the way."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
