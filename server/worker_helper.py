"""The Worker Helper: a worker run's files in S3, under its job's prefix."""

import re

from flask import Blueprint, jsonify, request

from . import idempotency
from .errors import BadRequest, Forbidden
from .files import answer, file_info
from .worker_manager import authenticated, job_prefix

bp = Blueprint("worker_helper", __name__)
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def check_file_name(name) -> str:
    if not isinstance(name, str) or not name or name in (".", "..") or ".." in name \
            or _BAD_NAME.search(name) or len(name) > 255:
        raise BadRequest(f"file name {name!r} is not allowed: no '/', '..' or control characters, 1-255 chars")
    return name


@bp.post("/v2/workers/files")
@idempotency.keyed
def upload():
    service, info = authenticated()
    upload_file = request.files.get("file")
    if upload_file is not None:
        name, data = upload_file.filename, upload_file.read()
    elif request.mimetype == "multipart/form-data":
        raise BadRequest("a multipart upload needs one file field named 'file'")
    else:
        name, data = request.args.get("name"), request.get_data()
        if name is None:
            raise BadRequest("a raw upload needs '?name=<file name>'")
    check_file_name(name)
    service.worker_info.require_writable(info)
    key = f"{job_prefix(info)}{info['worker']}/{name}"
    service.clients.s3.put_object(Bucket=service.settings.names.bucket, Key=key, Body=data)
    return jsonify({"key": key, "size": len(data)}), 201


@bp.get("/v2/workers/files/<path:key>")
def download(key):
    service, info = authenticated()
    if not key.startswith(job_prefix(info)):
        raise Forbidden(f"file {key!r} does not belong to this worker's job")
    return answer(file_info(service, key))
