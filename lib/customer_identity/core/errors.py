"""Exception types the jobs turn into clear, non-zero exits."""

from __future__ import annotations


class CustomerIdentityError(Exception):
    """Base class: a problem the operator can act on; the message says what to do."""

    exit_code = 2


class SourceReadError(CustomerIdentityError):
    """A configured source could not be read (path missing, format wrong)."""


class RowCountMismatch(CustomerIdentityError):
    """Rows read did not equal rows accepted plus rows quarantined."""

    exit_code = 3


class TableNotFound(CustomerIdentityError):
    """A stage's input table does not exist yet: run the earlier stage first."""


class MissingSecret(CustomerIdentityError):
    """A secret the job needs is not in the environment (secrets never come from config files)."""


class ModelTrainingError(CustomerIdentityError):
    """The model could not be estimated from the data."""


class ComparisonBudgetExceeded(CustomerIdentityError):
    """The blocking rules would generate more pairs than ``model.max_comparisons`` allows."""
