"""Errors a user can cause: each carries one message meant to be printed as is."""


class UserError(Exception):
    """A problem with the user's input (data, params, model file); printed without a traceback."""


class DataError(UserError):
    """A CSV or prepared array that does not hold valid MNIST data."""


class ParamsError(UserError):
    """params.yaml does not match the schema."""


class ModelFileError(UserError):
    """A model file that is missing, damaged or of an unsupported format."""


class DownloadError(UserError):
    """A data source that cannot be fetched or does not match its checksum."""


class TrainingDiverged(UserError):
    """The training loss became NaN or infinite."""
