"""The one exception the data layer raises for bad input: a one-sentence, actionable message."""


class DataError(ValueError):
    """Bad or missing data: the message says what is wrong, with which file, and how to fix it."""
