from __future__ import annotations

from sellerhub.core.errors import DomainError, PayloadTooLarge, ValidationFailed


class ImportTooLarge(PayloadTooLarge):
    code = "inventory-import-too-large"
    title = "The import file is too large"


class MalformedImport(ValidationFailed):
    """The file cannot be read as rows at all (not CSV or a JSON array, a broken line): nothing
    is stored."""

    code = "inventory-import-malformed"
    title = "The import file cannot be read"


class ImportRejected(ValidationFailed):
    """Rows were invalid and the import was not partial: nothing applied. The import and its
    report are kept (``keep_writes``) so the report can be downloaded."""

    code = "inventory-import-rejected"
    title = "The import has invalid rows; nothing was applied"
    keep_writes = True


class ImportConflict(DomainError):
    status = 409
    code = "inventory-import-conflict"
    title = "Stock levels changed while the import was applied"


class UploadTimeout(DomainError):
    status = 408
    code = "request-timeout"
    title = "The request body arrived too slowly"
