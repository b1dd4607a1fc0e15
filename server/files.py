"""The API Server's file routes: a user reads any job's files through presigned URLs."""

from botocore.exceptions import ClientError
from flask import Blueprint, jsonify

from . import observe
from .resources import current_service
from .errors import NotFound

bp = Blueprint("files", __name__)


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
    return jsonify(file_info(current_service(), key))
