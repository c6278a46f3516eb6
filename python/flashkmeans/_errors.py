"""fkm_status -> Python exceptions.

Each library status has its own class, derived from both FlashKMeansError (so callers can catch
every library failure at once and read `.status`) and the built-in exception a Python user
expects (ValueError for bad arguments or data, MemoryError, OSError, RuntimeError)."""
from . import _lib


class FlashKMeansError(Exception):
    """Base of every error reported by libflashkmeans. `.status` is the fkm_status code and
    `.detail` the library's fkm_last_error() text."""

    status = None

    def __init__(self, message, status=None, detail=""):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.detail = detail


class InvalidArgumentError(FlashKMeansError, ValueError):
    status = _lib.FKM_ERR_INVALID_ARG


class BadInputError(FlashKMeansError, ValueError):
    status = _lib.FKM_ERR_BAD_INPUT


class FormatError(FlashKMeansError, ValueError):
    status = _lib.FKM_ERR_FORMAT


class OutOfMemoryError(FlashKMeansError, MemoryError):
    status = _lib.FKM_ERR_NO_MEMORY


class IOFailure(FlashKMeansError, OSError):
    status = _lib.FKM_ERR_IO


class NoCudaError(FlashKMeansError, RuntimeError):
    status = _lib.FKM_ERR_NO_CUDA


class CudaError(FlashKMeansError, RuntimeError):
    status = _lib.FKM_ERR_CUDA


class CancelledError(FlashKMeansError, RuntimeError):
    status = _lib.FKM_ERR_CANCELLED


class InternalError(FlashKMeansError, RuntimeError):
    status = _lib.FKM_ERR_INTERNAL


_BY_STATUS = {c.status: c for c in (InvalidArgumentError, BadInputError, FormatError,
                                     OutOfMemoryError, IOFailure, NoCudaError, CudaError,
                                     CancelledError, InternalError)}


def error_for(status, what=""):
    """The exception for a failed call; must run on the thread that made the call (the
    library's message is thread-local)."""
    detail = _lib.last_error()
    text = detail or _lib.status_str(status)
    if what:
        text = "%s: %s" % (what, text)
    if status == _lib.FKM_ERR_BAD_INPUT and ("NaN" in detail or "Inf" in detail):
        # The library names the first bad position; say it in the words numpy users search for.
        text += " (input contains NaN or infinity)"
    cls = _BY_STATUS.get(status, InternalError)
    return cls("%s [flashkmeans: %s]" % (text, _lib.status_str(status)), status, detail)


def check(status, what=""):
    if status != _lib.FKM_OK:
        raise error_for(status, what)
