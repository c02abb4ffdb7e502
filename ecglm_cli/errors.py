"""Errors that reach the user as one line and a documented exit code (docs/exit-codes.md)."""

EXIT_OK = 0
EXIT_ERROR = 1  # bad input file, bad model bundle, failed download
EXIT_USAGE = 2  # bad options, or a command that is not available yet
EXIT_PARTIAL = 3  # `batch`: some records failed, the rest were scored
EXIT_OFFLINE = 4  # offline mode and the model is not in the cache


class ECGLMError(Exception):
    """Base class: the message is shown as one line, the exit code is `exit_code`."""

    exit_code = EXIT_ERROR


class RecordError(ECGLMError):
    """A record could not be read or is unusable. The message names the file."""

    def __init__(self, path: object, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ModelError(ECGLMError):
    """A model bundle or language model is missing, corrupt or does not match."""


class QuestionError(ECGLMError):
    """A question the language model cannot take, such as one longer than its context."""

    exit_code = EXIT_USAGE


class DownloadError(ECGLMError):
    """A download failed or did not verify."""


class OfflineError(ECGLMError):
    """Offline mode is on and the model is not cached."""

    exit_code = EXIT_OFFLINE
