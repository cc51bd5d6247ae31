"""Amazon S3 and S3-compatible stores (``io.kestra.plugin.aws.s3.*``) through boto3, issue 17.

boto3 is an optional dependency (``pip install 'trellis[s3]'``): it is imported where a task
connects, so a worker without it loads every other type and validation names the extra.

``endpointOverride`` (MinIO, Ceph, a test server) is checked by the outbound guard
(plugins/http/guard.py) before any request: its host's addresses must be ones the HTTP task
may reach. Without ``accessKeyId`` boto3 looks for credentials where it always does (the
worker's environment and instance role), as Kestra's AWS tasks do.

Registered through the ``trellis.plugins`` entry point (``s3 = "plugins.s3"``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import ipaddress
import posixpath
import re
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from executions.durations import parse_duration
from executions.expr_limits import regex_fullmatch
from plugins.base import (
    PollContext,
    PollEvent,
    PollingTrigger,
    Prop,
    RunContext,
    RunnableTask,
    StoreFile,
    TaskFailed,
)
from plugins.http.guard import current_policy

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
    policy = current_policy()
    host = parts.hostname
    reason = policy.refusal_for_name(host)
    if reason is None:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, 0, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise TaskFailed(f"cannot resolve {host}: {exc}") from exc
        for info in infos:
            reason = policy.refusal(host, ipaddress.ip_address(str(info[4][0]).split("%")[0]))
            if reason:
                break
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
        raise _failed(exc, f"cannot assume role {arguments['RoleArn']}") from exc
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


def _failed(exc: Exception, what: str) -> TaskFailed:
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
        raise _failed(exc, f"cannot list bucket {bucket}") from exc
    return found


class List(S3Task):
    """List a bucket's objects (``objects``: key, size, eTag, lastModified, uri)."""

    type = "trellis.s3.List"
    aliases = ("io.kestra.plugin.aws.s3.List",)
    properties: ClassVar = (*CONNECTION, *LISTING)
    examples = (
        """id: s3_list
namespace: company.team
tasks:
  - id: list
    type: io.kestra.plugin.aws.s3.List
    accessKeyId: "{{ secret('AWS_ACCESS_KEY_ID') }}"
    secretKeyId: "{{ secret('AWS_SECRET_KEY_ID') }}"
    region: eu-central-1
    bucket: my-bucket
    prefix: sub-dir/
""",
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        objects = list_objects(client(props), props)
        ctx.logger.debug(f"{len(objects)} objects in {props['bucket']}")
        return {"objects": objects}


def _download(
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
        raise _failed(exc, f"cannot download s3://{bucket}/{key}") from exc
    return answer


class Download(S3Task):
    """Copy one object into internal storage (``uri``)."""

    type = "trellis.s3.Download"
    aliases = ("io.kestra.plugin.aws.s3.Download",)
    properties: ClassVar = (
        *CONNECTION,
        Prop("key", "string", required=True, description="The object's key."),
        Prop("versionId", "string", description="A version of the object."),
        PAYER,
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        bucket, key = str(props["bucket"]), str(props["key"])
        target = ctx.working_dir / f"s3-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
        answer = _download(
            client(props), bucket, key, target, props.get("versionId"), props.get("requestPayer")
        )
        uri = ctx.put_file(target, posixpath.basename(key) or "object")
        target.unlink(missing_ok=True)
        ctx.logger.info(f"downloaded s3://{bucket}/{key} ({answer.get('ContentLength')} bytes)")
        return {
            "uri": uri,
            "contentLength": answer.get("ContentLength"),
            "contentType": answer.get("ContentType"),
            "metadata": dict(answer.get("Metadata") or {}),
            "versionId": answer.get("VersionId"),
            "eTag": str(answer.get("ETag") or "").strip('"'),
        }


_UPLOAD_OPTIONS = (
    ("storageClass", "StorageClass"),
    ("acl", "ACL"),
    ("cacheControl", "CacheControl"),
    ("contentDisposition", "ContentDisposition"),
    ("contentEncoding", "ContentEncoding"),
    ("serverSideEncryption", "ServerSideEncryption"),
    ("requestPayer", "RequestPayer"),
)


def _sources(value: Any) -> list[tuple[str | None, str]]:
    if isinstance(value, Mapping):
        return [(str(k), str(v)) for k, v in value.items()]
    if isinstance(value, list | tuple):
        return [(None, str(v)) for v in value]
    return [(None, str(value))]


class Upload(S3Task):
    """Copy internal-storage files to the bucket. One ``from`` goes to ``key``; with a list
    (or a mapping name -> URI) ``key`` is a prefix and each file keeps its name."""

    type = "trellis.s3.Upload"
    aliases = ("io.kestra.plugin.aws.s3.Upload",)
    properties: ClassVar = (
        *CONNECTION,
        Prop("from", "any", required=True, description="kestra:// URI(s) to upload."),
        Prop("key", "string", required=True, description="The key (a prefix for many files)."),
        Prop("contentType", "string"),
        Prop("metadata", "map", description="User metadata stored with the object."),
        Prop("storageClass", "string"),
        Prop("acl", "string", description="A canned ACL (private, public-read...)."),
        Prop("cacheControl", "string"),
        Prop("contentDisposition", "string"),
        Prop("contentEncoding", "string"),
        Prop("serverSideEncryption", "string", description="AES256 or aws:kms."),
        Prop("tagging", "map", description="Tags stored with the object."),
        PAYER,
    )
    examples = (
        """id: s3_upload
namespace: company.team
inputs:
  - id: file
    type: FILE
tasks:
  - id: upload
    type: io.kestra.plugin.aws.s3.Upload
    accessKeyId: "{{ secret('AWS_ACCESS_KEY_ID') }}"
    secretKeyId: "{{ secret('AWS_SECRET_KEY_ID') }}"
    region: eu-central-1
    bucket: my-bucket
    from: "{{ inputs.file }}"
    key: path/to/file.csv
""",
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        s3 = client(props)
        bucket, key = str(props["bucket"]), str(props["key"])
        sources = _sources(props["from"])
        single = isinstance(props["from"], str)
        extra: dict[str, Any] = {}
        if props.get("contentType"):
            extra["ContentType"] = str(props["contentType"])
        if props.get("metadata"):
            extra["Metadata"] = {str(k): str(v) for k, v in dict(props["metadata"]).items()}
        for name, option in _UPLOAD_OPTIONS:
            if props.get(name):
                extra[option] = str(props[name])
        if props.get("tagging"):
            extra["Tagging"] = urlencode(
                {str(k): str(v) for k, v in dict(props["tagging"]).items()}
            )
        last: dict[str, Any] = {}
        keys = []
        for name, uri in sources:
            local = ctx.open_uri(uri)
            target = key if single else posixpath.join(key, name or local.name)
            try:
                with local.open("rb") as body:
                    last = s3.put_object(Bucket=bucket, Key=target, Body=body, **extra)
            except Exception as exc:
                raise _failed(exc, f"cannot upload to s3://{bucket}/{target}") from exc
            keys.append(target)
            ctx.logger.info(f"uploaded s3://{bucket}/{target}")
        return {
            "bucket": bucket,
            "key": keys[0] if single else key,
            "keys": keys,
            "eTag": str(last.get("ETag") or "").strip('"'),
            "versionId": last.get("VersionId"),
        }


class Delete(S3Task):
    """Delete one object."""

    type = "trellis.s3.Delete"
    aliases = ("io.kestra.plugin.aws.s3.Delete",)
    properties: ClassVar = (
        *CONNECTION,
        Prop("key", "string", required=True),
        Prop("versionId", "string"),
        Prop("bypassGovernanceRetention", "boolean"),
        Prop("mfa", "string", description="Serial and code of the MFA device."),
        PAYER,
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        arguments: dict[str, Any] = {"Bucket": str(props["bucket"]), "Key": str(props["key"])}
        if props.get("versionId"):
            arguments["VersionId"] = str(props["versionId"])
        if props.get("bypassGovernanceRetention"):
            arguments["BypassGovernanceRetention"] = True
        for name, key in (("mfa", "MFA"), ("requestPayer", "RequestPayer")):
            if props.get(name):
                arguments[key] = str(props[name])
        try:
            answer = client(props).delete_object(**arguments)
        except Exception as exc:
            raise _failed(
                exc, f"cannot delete s3://{arguments['Bucket']}/{arguments['Key']}"
            ) from exc
        return {
            "deleteMarker": bool(answer.get("DeleteMarker")),
            "versionId": answer.get("VersionId"),
        }


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
            raise _failed(exc, f"cannot {action.lower()} s3://{bucket}/{key}") from exc


class Downloads(S3Task):
    """Download every object a listing finds, then MOVE, DELETE or keep them."""

    type = "trellis.s3.Downloads"
    aliases = ("io.kestra.plugin.aws.s3.Downloads",)
    properties: ClassVar = (*CONNECTION, *LISTING, *ACTION)

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        s3 = client(props)
        bucket = str(props["bucket"])
        objects = [o for o in list_objects(s3, props) if not o["key"].endswith("/")]
        output_files: dict[str, str] = {}
        downloaded = []
        for index, item in enumerate(objects):
            local = ctx.working_dir / f"s3-{index}"
            _download(s3, bucket, item["key"], local)
            uri = ctx.put_file(local, posixpath.basename(item["key"]) or "object")
            local.unlink(missing_ok=True)
            output_files[item["key"]] = uri
            downloaded.append({**item, "uri": uri})
        apply_action(s3, props, objects)
        return {"objects": downloaded, "outputFiles": output_files}


class Trigger(PollingTrigger):
    """Start one execution per poll that finds objects (``trigger.objects``, each with
    ``uri``: a copy in internal storage). ``action: NONE`` starts again only for a new or
    changed object (its eTag); MOVE and DELETE act once the execution is committed, so a
    duplicated poll's event, having the same key, starts nothing more."""

    type = "trellis.s3.Trigger"
    aliases = ("io.kestra.plugin.aws.s3.Trigger",)
    default_interval = "PT60S"
    #: Shown as ``******`` to users who may not write the flow (flows/confidential.py).
    confidential: ClassVar = ("secretKeyId", "sessionToken")
    properties: ClassVar = (
        *CONNECTION,
        *LISTING,
        *ACTION,
        Prop("interval", "duration", default="PT60S", dynamic=False),
        *PollingTrigger.shared_properties,
    )
    examples = (
        """id: s3_listen
namespace: company.team
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ trigger.objects | jq('.[].uri') }}"
    tasks:
      - id: return
        type: io.kestra.plugin.core.debug.Return
        format: "{{ taskrun.value }}"
triggers:
  - id: watch
    type: io.kestra.plugin.aws.s3.Trigger
    interval: PT5M
    accessKeyId: "{{ secret('AWS_ACCESS_KEY_ID') }}"
    secretKeyId: "{{ secret('AWS_SECRET_KEY_ID') }}"
    region: eu-central-1
    bucket: my-bucket
    prefix: sub-dir
    action: MOVE
    moveTo:
      key: archive
      bucket: new-bucket
""",
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return S3Task.validate.__func__(cls, props)  # type: ignore[attr-defined]

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        s3 = client(props)
        bucket = str(props["bucket"])
        objects = [o for o in list_objects(s3, props) if not o["key"].endswith("/")]
        action = str(props.get("action") or "NONE").upper()
        if action == "NONE":
            seen: dict[str, str] = dict(ctx.state.get("seen") or {})
            present = {o["key"]: o["eTag"] for o in objects}
            ctx.state["seen"] = {k: v for k, v in seen.items() if present.get(k) == v}
            objects = [o for o in objects if seen.get(o["key"]) != o["eTag"]]
        if not objects:
            return []
        key = hashlib.sha256(
            "\n".join(f"{bucket}/{o['key']}:{o['eTag']}" for o in objects).encode()
        ).hexdigest()

        def attach(store: StoreFile) -> Mapping[str, Any]:
            stored = []
            with tempfile.TemporaryDirectory(prefix="trellis-s3-") as folder:
                for index, item in enumerate(objects):
                    local = Path(folder) / str(index)
                    _download(s3, bucket, item["key"], local)
                    name = posixpath.basename(item["key"]) or "object"
                    stored.append({**item, "uri": store(local, name)})
            return {"objects": stored}

        def done() -> None:
            if action == "NONE":
                for item in objects:
                    ctx.state.setdefault("seen", {})[item["key"]] = item["eTag"]
                return
            for item in objects:
                # One at a time: an object a duplicated poll's event moved already is gone,
                # which is fine; the others still move.
                with contextlib.suppress(TaskFailed):
                    apply_action(s3, props, [item])

        return [PollEvent(key=f"objects:{key}", variables={"objects": objects}, attach=attach,
                          done=done)]  # fmt: skip


PLUGINS = [Upload, Download, Downloads, List, Delete, Trigger]
