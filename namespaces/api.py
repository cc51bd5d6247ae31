"""Namespace files over HTTP, on Kestra's paths (``/api/v1/namespaces/{namespace}/files``).

* ``GET    files?path=``            the file's content
* ``POST   files?path=``            upload (multipart part ``fileContent``; a ``.zip`` is
  unpacked under ``path``'s folder)
* ``PUT    files?from=&to=``        move or rename a file or a folder
* ``DELETE files?path=``            delete a file or a folder with what it holds
* ``GET    files/stats?path=``      size, dates and type (``File`` or ``Directory``)
* ``GET    files/directory?path=``  what a folder holds (the root without ``path``)
* ``POST   files/directory?path=``  create a folder
* ``GET    files/export``           every file as a zip archive

Views only translate: every rule (paths, sizes, ``..``) is the services'.
"""

from __future__ import annotations

import io

from django.conf import settings
from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import parsers, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from namespaces import paths, services
from namespaces.services import NamespaceFileError, NamespaceFileNotFound
from orchestrator.api.base import ApiView, check_body_size
from orchestrator.api.errors import ApiProblem
from orchestrator.api.schema import PROBLEM_RESPONSES


class FileAttributesSerializer(serializers.Serializer):
    fileName = serializers.CharField()  # noqa: N815 - Kestra's JSON field names
    path = serializers.CharField()
    type = serializers.ChoiceField(choices=["File", "Directory"])
    size = serializers.IntegerField()
    sha256 = serializers.CharField(allow_null=True)
    creationTime = serializers.IntegerField(allow_null=True)  # noqa: N815
    lastModifiedTime = serializers.IntegerField(allow_null=True)  # noqa: N815
    metadata = serializers.DictField()


PATH = OpenApiParameter("path", str, description="a path in the namespace, like /scripts/a.py")
TAGS = ["Namespace files"]


def _problem(exc: Exception) -> Exception:
    if isinstance(exc, NamespaceFileNotFound):
        return NotFound(str(exc))
    field = "path"
    return ApiProblem(str(exc), status_code=422, errors=[{"field": field, "message": str(exc)}])


def _required(request, name: str = "path") -> str:
    value = request.query_params.get(name)
    if not value:
        raise ApiProblem(
            f"{name} is required", errors=[{"field": name, "message": "a namespace file path"}]
        )
    return value


class NamespaceFilesView(ApiView):
    parser_classes = [parsers.MultiPartParser, parsers.FormParser]

    @extend_schema(
        operation_id="namespace_files_get",
        tags=TAGS,
        parameters=[PATH],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **PROBLEM_RESPONSES},
        description="The content of one namespace file.",
    )
    def get(self, request, namespace: str):
        path = _required(request)
        try:
            stream = services.nsfile_open(namespace, path, actor=request.user)
        except (NamespaceFileError, NamespaceFileNotFound) as exc:
            raise _problem(exc) from exc
        response = FileResponse(stream, as_attachment=False, filename=paths.name_of(path))
        response["Content-Type"] = "application/octet-stream"
        response["Cache-Control"] = "no-cache"
        return response

    @extend_schema(
        operation_id="namespace_files_upload",
        tags=TAGS,
        parameters=[PATH],
        request={"multipart/form-data": {"type": "object", "properties": {
            "fileContent": {"type": "string", "format": "binary"}}}},
        responses={200: FileAttributesSerializer(many=True), **PROBLEM_RESPONSES},
        description="Create or replace the file at `path` with the part `fileContent`; a "
        "file named *.zip is unpacked into the folder `path` instead.",
    )  # fmt: skip
    def post(self, request, namespace: str):
        check_body_size(request, settings.TRELLIS_MAX_UPLOAD_BYTES + 64 * 1024)
        path = _required(request)
        upload = request.FILES.get("fileContent")
        if upload is None:
            raise ApiProblem(
                "fileContent is required",
                errors=[{"field": "fileContent", "message": "the file to upload"}],
            )
        try:
            if str(upload.name).lower().endswith(".zip"):
                # the archive unpacks into `path`, or beside it when `path` names the .zip
                normal = paths.normalize(path, allow_root=True)
                folder = paths.parent_of(normal) if normal.lower().endswith(".zip") else normal
                rows = services.nsfile_put_zip(
                    namespace=namespace, folder=folder, archive=upload, actor=request.user
                )
            else:
                rows = [
                    services.nsfile_put(
                        namespace=namespace, path=path, data=upload, actor=request.user
                    )
                ]
        except (NamespaceFileError, NamespaceFileNotFound, paths.PathRefused) as exc:
            raise _problem(exc) from exc
        return Response([services.file_attributes(r) for r in rows])

    @extend_schema(
        operation_id="namespace_files_move",
        tags=TAGS,
        parameters=[
            OpenApiParameter("from", str, required=True, description="the current path"),
            OpenApiParameter("to", str, required=True, description="the new path"),
        ],
        request=None,
        responses={200: FileAttributesSerializer(many=True), **PROBLEM_RESPONSES},
        description="Move or rename a file or a folder (the target must not exist).",
    )
    def put(self, request, namespace: str):
        source, target = _required(request, "from"), _required(request, "to")
        try:
            rows = services.nsfile_move(
                namespace=namespace, source=source, target=target, actor=request.user
            )
        except (NamespaceFileError, NamespaceFileNotFound) as exc:
            raise _problem(exc) from exc
        return Response([services.file_attributes(r) for r in rows])

    @extend_schema(
        operation_id="namespace_files_delete",
        tags=TAGS,
        parameters=[PATH],
        responses={204: None, **PROBLEM_RESPONSES},
        description="Delete a file, or a folder and everything in it.",
    )
    def delete(self, request, namespace: str):
        path = _required(request)
        try:
            services.nsfile_delete(namespace=namespace, path=path, actor=request.user)
        except (NamespaceFileError, NamespaceFileNotFound) as exc:
            raise _problem(exc) from exc
        return HttpResponse(status=204)


class NamespaceFileStatsView(ApiView):
    @extend_schema(
        operation_id="namespace_files_stats",
        tags=TAGS,
        parameters=[PATH],
        responses={200: FileAttributesSerializer, **PROBLEM_RESPONSES},
        description="Type, size and dates of a file or folder (the root without `path`).",
    )
    def get(self, request, namespace: str):
        try:
            row = services.nsfile_get(
                namespace, request.query_params.get("path") or "/", actor=request.user
            )
        except (NamespaceFileError, NamespaceFileNotFound) as exc:
            raise _problem(exc) from exc
        return Response(services.file_attributes(row))


class NamespaceDirectoryView(ApiView):
    @extend_schema(
        operation_id="namespace_files_list",
        tags=TAGS,
        parameters=[PATH],
        responses={200: FileAttributesSerializer(many=True), **PROBLEM_RESPONSES},
        description="What a folder holds, folders and files (the root without `path`).",
    )
    def get(self, request, namespace: str):
        try:
            rows = services.nsfile_list(
                namespace, request.query_params.get("path") or "/", actor=request.user
            )
        except (NamespaceFileError, NamespaceFileNotFound) as exc:
            raise _problem(exc) from exc
        return Response([services.file_attributes(r) for r in rows])

    @extend_schema(
        operation_id="namespace_files_mkdir",
        tags=TAGS,
        parameters=[PATH],
        request=None,
        responses={200: FileAttributesSerializer, **PROBLEM_RESPONSES},
        description="Create a folder (and the folders above it).",
    )
    def post(self, request, namespace: str):
        try:
            row = services.nsfile_mkdir(
                namespace=namespace, path=_required(request), actor=request.user
            )
        except (NamespaceFileError, NamespaceFileNotFound) as exc:
            raise _problem(exc) from exc
        return Response(services.file_attributes(row))


class NamespaceExportView(ApiView):
    @extend_schema(
        operation_id="namespace_files_export",
        tags=TAGS,
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **PROBLEM_RESPONSES},
        description="Every file of the namespace in one zip archive.",
    )
    def get(self, request, namespace: str):
        try:
            data = services.nsfile_export_zip(namespace, actor=request.user)
        except (NamespaceFileError, NamespaceFileNotFound) as exc:
            raise _problem(exc) from exc
        return FileResponse(io.BytesIO(data), as_attachment=True,
                            filename=f"{namespace}_files.zip")  # fmt: skip
