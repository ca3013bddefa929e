"""The exceptions of the data layer: bad input (DataError) and an unwritable cache, each one actionable sentence."""


class DataError(ValueError):
    """Bad or missing data: the message says what is wrong, with which file, and how to fix it."""


class CacheError(RuntimeError):
    """The decode cache cannot be written: the message names the folder and `$WDSR_CACHE`, which moves it."""
