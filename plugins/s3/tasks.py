"""The S3 tasks: Upload, Download, Downloads, List, Delete (Kestra's names as aliases)."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlencode

from kernel.plugin import Output, Prop, RunContext
from plugins.s3.connection import (
    ACTION,
    CONNECTION,
    LISTING,
    PAYER,
    S3Task,
    apply_action,
    client,
    download_object,
    failed,
    list_objects,
)


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

    outputs: ClassVar = (
        Output(
            "objects",
            "One entry per object: key, lastModified, eTag, size, storageClass, uri.",
            "list",
        ),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        objects = list_objects(client(props), props)
        ctx.logger.debug(f"{len(objects)} objects in {props['bucket']}")
        return {"objects": objects}


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

    outputs: ClassVar = (
        Output("uri", "The object in internal storage.", "uri"),
        Output("contentLength", "Its size in bytes.", "integer"),
        Output("contentType", "Its content type.", "string"),
        Output("metadata", "Its user metadata.", "map"),
        Output("versionId", "Its version, when versioned.", "string"),
        Output("eTag", "Its ETag, without quotes.", "string"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        bucket, key = str(props["bucket"]), str(props["key"])
        target = ctx.working_dir / f"s3-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
        answer = download_object(
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

    outputs: ClassVar = (
        Output("bucket", "The bucket.", "string"),
        Output(
            "key",
            "The key written (the `key` property when several files were uploaded).",
            "string",
        ),
        Output("keys", "Every key written.", "list"),
        Output("eTag", "The last object's ETag.", "string"),
        Output("versionId", "The last object's version, when versioned.", "string"),
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
                raise failed(exc, f"cannot upload to s3://{bucket}/{target}") from exc
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

    outputs: ClassVar = (
        Output("deleteMarker", "Whether a delete marker was created.", "boolean"),
        Output("versionId", "The version deleted or the marker's.", "string"),
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
            raise failed(
                exc, f"cannot delete s3://{arguments['Bucket']}/{arguments['Key']}"
            ) from exc
        return {
            "deleteMarker": bool(answer.get("DeleteMarker")),
            "versionId": answer.get("VersionId"),
        }


class Downloads(S3Task):
    """Download every object a listing finds, then MOVE, DELETE or keep them."""

    type = "trellis.s3.Downloads"
    aliases = ("io.kestra.plugin.aws.s3.Downloads",)
    properties: ClassVar = (*CONNECTION, *LISTING, *ACTION)

    outputs: ClassVar = (
        Output("objects", "One entry per object downloaded, with its `uri`.", "list"),
        Output("outputFiles", "Key -> internal-storage URI.", "map"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        s3 = client(props)
        bucket = str(props["bucket"])
        objects = [o for o in list_objects(s3, props) if not o["key"].endswith("/")]
        output_files: dict[str, str] = {}
        downloaded = []
        for index, item in enumerate(objects):
            local = ctx.working_dir / f"s3-{index}"
            download_object(s3, bucket, item["key"], local)
            uri = ctx.put_file(local, posixpath.basename(item["key"]) or "object")
            local.unlink(missing_ok=True)
            output_files[item["key"]] = uri
            downloaded.append({**item, "uri": uri})
        apply_action(s3, props, objects)
        return {"objects": downloaded, "outputFiles": output_files}
