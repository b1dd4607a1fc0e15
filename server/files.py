"""The API Server's file routes: a user reads any job's files through presigned URLs."""

from botocore.exceptions import ClientError
from flask import Blueprint, jsonify, redirect, request

from . import observe
from .resources import current_service
from .errors import NotFound

bp = Blueprint("files", __name__)


def wants_content() -> bool:
    """`?download=1` or `Accept: application/octet-stream` (before JSON): answer with the file, not its info."""
    if request.args.get("download", "").lower() in ("1", "true", "yes"):
        return True
    accept = request.accept_mimetypes
    return accept["application/octet-stream"] > accept["application/json"]  # `*/*` (curl's) keeps JSON


def answer(info: dict):
    """The file's info as JSON, or a 302 to its presigned URL when the caller wants the file itself."""
    if wants_content():
        response = redirect(info["url"], code=302)
        response.headers["Cache-Control"] = "no-store"  # the URL expires
        return response
    return jsonify(info)


def file_info(service, key: str) -> dict:
    """Key, presigned GET URL, lifetime and size of an object; NotFound when there is none."""
    s3, bucket = service.clients.s3, service.settings.names.bucket
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            raise NotFound(f"no file with key {key!r}") from None
        raise
    expires = service.settings.presign_seconds
    observe.record(observe.current(), "AWS S3", "Presign GET")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)
    return {"key": key, "url": url, "expires_in": expires, "size": head["ContentLength"]}


@bp.get("/v2/files/<path:key>")
def get_file(key):
    return answer(file_info(current_service(), key))
