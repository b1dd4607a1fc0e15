"""One API error class with the contract's code and message, and its cases."""


class ApiError(Exception):
    """An error answered as `{"error": {"code", "message"}}` with `status_code`."""

    status_code = 500
    code = "InternalError"

    def __init__(self, message: str, code: str | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code

    def to_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(ApiError):
    status_code, code = 400, "BadRequest"


class Unauthorized(ApiError):
    status_code, code = 401, "Unauthorized"


class Forbidden(ApiError):
    status_code, code = 403, "Forbidden"


class NotFound(ApiError):
    status_code, code = 404, "NotFound"


class Conflict(ApiError):
    status_code, code = 409, "Conflict"


class PayloadTooLarge(ApiError):
    status_code, code = 413, "PayloadTooLarge"


class Invalid(ApiError):
    status_code, code = 422, "InvalidDefinition"


class ServiceUnavailable(ApiError):
    status_code, code = 503, "ServiceUnavailable"
