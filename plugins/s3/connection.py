"""How the S3 tasks connect and the operations they share (listing, downloading, MOVE and
DELETE); see the package's docstring for the guard and the credentials."""

from __future__ import annotations

import importlib.util
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kernel.durations import parse_duration
from kernel.expressions.limits import regex_fullmatch
from kernel.plugin import (
    Prop,
    RunnableTask,
    TaskFailed,
)
from plugins._shared.guard import host_refusal

ACTIONS = ("NONE", "MOVE", "DELETE")
FILTERS = ("FILES", "DIRECTORY", "BOTH")

CONNECTION = (
    Prop("accessKeyId", "string", description="Access key id (use a secret)."),
    Prop("secretKeyId", "string", description="Secret access key (use a secret)."),
    Prop("sessionToken", "string", description="Session token of temporary credentials."),
    Prop("region", "string", description="The bucket's region (us-east-1 when unset)."),
    Prop("endpointOverride", "string", description="Endpoint of an S3-compatible store."),
    Prop("forcePathStyle", "boolean", description="Path-style URLs (default with an endpoint)."),
    Prop(
        "compatibilityMode",
        "boolean",
        default=False,
        description="Accepted for Kestra's flows; boto3 needs no special mode.",
    ),
    Prop("stsRoleArn", "string", description="Assume this IAM role (STS) first."),
    Prop("stsRoleExternalId", "string"),
    Prop("stsRoleSessionName", "string"),
    Prop("stsRoleSessionDuration", "duration", description="Assumed role's session length."),
    Prop("stsEndpointOverride", "string", description="Endpoint of the STS service."),
    Prop("bucket", "string", required=True, description="The bucket."),
)
PAYER = Prop("requestPayer", "string", choices=("requester",))
LISTING = (
    Prop("prefix", "string", description="Only keys starting with this prefix."),
    Prop("delimiter", "string", description="Groups keys by this character."),
    Prop("marker", "string", description="Start listing after this key."),
    Prop("maxKeys", "integer", default=1000, description="Keys listed, at most."),
    Prop("regexp", "string", description="Only keys matching this regular expression."),
    Prop("filter", "string", default="BOTH", choices=FILTERS),
    Prop("expectedBucketOwner", "string", description="Fail unless this account owns it."),
    PAYER,
)
ACTION = (
    Prop("action", "string", default="NONE", choices=ACTIONS),
    Prop("moveTo", "map", description="MOVE's destination: `key` (a prefix) and `bucket`."),
)


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _library() -> list[tuple[str, str]]:
    if importlib.util.find_spec("boto3") is None:
        return [("type", "this type needs boto3, which is not installed: "
                         "pip install 'trellis[s3]'")]  # fmt: skip
    return []


def _check_endpoint(endpoint: str) -> None:
    """Refuse an endpoint whose host the outbound guard refuses (every address it has)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TaskFailed(f"`endpointOverride` must be an http(s) URL, got {endpoint!r}")
    reason = host_refusal(parts.hostname, parts.port or 443)
    if reason:
        raise TaskFailed(
            f"S3 endpoint refused: {reason}; TRELLIS_HTTP_ALLOW must name the host, address "
            "or network"
        )


def _seconds(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    return int(parse_duration(str(value)).total_seconds())


def _assumed(boto3: Any, session: Any, props: Mapping[str, Any]) -> Any:
    """A session with the credentials of ``stsRoleArn`` (Kestra's STS properties)."""
    endpoint = props.get("stsEndpointOverride") or None
    if endpoint:
        _check_endpoint(str(endpoint))
    arguments: dict[str, Any] = {
        "RoleArn": str(props["stsRoleArn"]),
        "RoleSessionName": str(props.get("stsRoleSessionName") or "trellis"),
    }
    if props.get("stsRoleExternalId"):
        arguments["ExternalId"] = str(props["stsRoleExternalId"])
    if props.get("stsRoleSessionDuration"):
        arguments["DurationSeconds"] = _seconds(props["stsRoleSessionDuration"])
    try:
        answer = session.client("sts", endpoint_url=endpoint).assume_role(**arguments)
    except Exception as exc:
        raise failed(exc, f"cannot assume role {arguments['RoleArn']}") from exc
    found = answer["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=found["AccessKeyId"],
        aws_secret_access_key=found["SecretAccessKey"],
        aws_session_token=found["SessionToken"],
        region_name=session.region_name,
    )


def client(props: Mapping[str, Any]) -> Any:
    """A boto3 S3 client for the task's credentials, region and endpoint."""
    import boto3  # optional dependency (trellis[s3])
    from botocore.config import Config

    endpoint = props.get("endpointOverride") or None
    if endpoint:
        _check_endpoint(str(endpoint))
    path_style = props.get("forcePathStyle")
    if path_style is None:
        path_style = bool(endpoint)
    session = boto3.session.Session(
        aws_access_key_id=props.get("accessKeyId") or None,
        aws_secret_access_key=props.get("secretKeyId") or None,
        aws_session_token=props.get("sessionToken") or None,
        region_name=props.get("region") or "us-east-1",
    )
    if props.get("stsRoleArn"):
        session = _assumed(boto3, session, props)
    config = Config(
        s3={"addressing_style": "path" if path_style else "auto"},
        connect_timeout=10,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return session.client("s3", endpoint_url=endpoint, config=config)


def failed(exc: Exception, what: str) -> TaskFailed:
    """boto3's error as a task failure (its message names no credential)."""
    return TaskFailed(f"{what}: {exc}")


class S3Task(RunnableTask):
    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = _library()
        regexp = props.get("regexp")
        if isinstance(regexp, str) and not _templated(regexp):
            try:
                re.compile(regexp)
            except re.error as exc:
                problems.append(("regexp", f"invalid regular expression {regexp!r}: {exc}"))
        if props.get("action") == "MOVE" and not isinstance(props.get("moveTo"), Mapping):
            problems.append(("moveTo", "`action: MOVE` needs `moveTo` (`key`, `bucket`)"))
        return problems


def _object(bucket: str, item: Mapping[str, Any]) -> dict[str, Any]:
    modified = item.get("LastModified")
    return {
        "key": item["Key"],
        "lastModified": modified.isoformat().replace("+00:00", "Z") if modified else None,
        "eTag": str(item.get("ETag") or "").strip('"'),
        "size": int(item.get("Size") or 0),
        "storageClass": item.get("StorageClass"),
        "uri": f"s3://{bucket}/{item['Key']}",
    }


def list_objects(s3: Any, props: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Objects of the bucket matching prefix, regexp and filter, in key order."""
    bucket = str(props["bucket"])
    limit = int(props.get("maxKeys") or 1000)
    arguments: dict[str, Any] = {"Bucket": bucket}
    for name, key in (
        ("prefix", "Prefix"),
        ("delimiter", "Delimiter"),
        ("marker", "StartAfter"),
        ("expectedBucketOwner", "ExpectedBucketOwner"),
        ("requestPayer", "RequestPayer"),
    ):
        if props.get(name):
            arguments[key] = str(props[name])
    regexp = props.get("regexp")
    wanted = str(props.get("filter") or "BOTH").upper()
    found: list[dict[str, Any]] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(**arguments):
            for item in page.get("Contents", []):
                is_folder = item["Key"].endswith("/")
                if (wanted == "FILES" and is_folder) or (wanted == "DIRECTORY" and not is_folder):
                    continue
                if regexp and not regex_fullmatch(str(regexp), item["Key"], timeout=1.0):
                    continue
                found.append(_object(bucket, item))
                if len(found) >= limit:
                    return found
    except Exception as exc:  # botocore's ClientError and connection errors alike
        raise failed(exc, f"cannot list bucket {bucket}") from exc
    return found


def download_object(
    s3: Any, bucket: str, key: str, target: Path, version: str | None = None, payer: Any = None
) -> dict:
    arguments = {"Bucket": bucket, "Key": key}
    if version:
        arguments["VersionId"] = version
    if payer:
        arguments["RequestPayer"] = str(payer)
    try:
        answer = s3.get_object(**arguments)
        with target.open("wb") as out:
            for chunk in answer["Body"].iter_chunks(1024 * 1024):
                out.write(chunk)
    except Exception as exc:
        raise failed(exc, f"cannot download s3://{bucket}/{key}") from exc
    return answer


def apply_action(s3: Any, props: Mapping[str, Any], objects: list[Mapping[str, Any]]) -> None:
    """MOVE (copy to ``moveTo.bucket``/``moveTo.key``/<name>, then delete) or DELETE."""
    action = str(props.get("action") or "NONE").upper()
    bucket = str(props["bucket"])
    for item in objects:
        key = item["key"]
        try:
            if action == "MOVE":
                move_to = dict(props.get("moveTo") or {})
                target_bucket = str(move_to.get("bucket") or bucket)
                prefix = str(move_to.get("key") or "").strip("/")
                name = posixpath.basename(key)
                target = f"{prefix}/{name}" if prefix else name
                s3.copy_object(
                    Bucket=target_bucket, Key=target, CopySource={"Bucket": bucket, "Key": key}
                )
            if action in ("MOVE", "DELETE"):
                s3.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise failed(exc, f"cannot {action.lower()} s3://{bucket}/{key}") from exc
