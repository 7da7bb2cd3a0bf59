"""Workspace tree, workspace-files, DBFS 2.0 and the Files API routes."""

from __future__ import annotations

import base64
import binascii
import mimetypes
from email.utils import formatdate

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile  # what request.form() returns

from odoolake.workspace.catalog.models import ModelVersionFiles
from odoolake.workspace.catalog.store import CatalogError
from odoolake.workspace.errors import InvalidParameterValue, NotImplementedLocally, RequestTooLarge, ResourceDoesNotExist
from odoolake.workspace.files.dbfs import DEFAULT_READ, UPLOAD_SUFFIX, RunArtifactFiles
from odoolake.workspace.files.workspace_tree import MAX_IMPORT_BYTES
from odoolake.workspace.identity.roles import ADMIN
from odoolake.workspace.routes.common import field, json_body, query_bool, query_int, read_body

router = APIRouter()
MAX_FILE_UPLOAD = 5 * 1024**3  # the Files API's limit for one upload, as Databricks documents it


def _tree(request: Request):
    return request.app.state.ws.tree


def _dbfs(request: Request):
    return request.app.state.ws.dbfs


RUN_ARTIFACTS = RunArtifactFiles.PREFIX.strip("/")


MODEL_FILES = ModelVersionFiles.PREFIX.strip("/") + "/"


def _files(request: Request, path: str):
    """The Files API's store for ``path``: a volume's, MLflow's run artifacts (``RunArtifactFiles``) or a registered
    model version's files (``ModelVersionFiles``)."""
    ws = request.app.state.ws
    relative = path.strip("/")
    if relative.startswith(RUN_ARTIFACTS):
        return ws.run_artifacts
    return ws.model_files if (relative + "/").startswith(MODEL_FILES) else ws.volumes


def _in_a_schema(request: Request, path: str) -> str:
    """``path`` (``/Volumes/<catalog>/<schema>/…``), once its catalog and schema exist: a typo in either made a new
    folder that no table or Spark read would find."""
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[0] != "Volumes":
        return path
    catalog = request.app.state.ws.catalog
    try:
        catalog.schema(parts[1], parts[2])
    except CatalogError:
        known = sorted(c["name"] for c in catalog.catalogs())
        if parts[1].lower() not in known:
            raise ResourceDoesNotExist(f"Catalog '{parts[1]}' does not exist (in {path}); this workspace has "
                                       f"{', '.join(known)}.", error_code="NOT_FOUND") from None
        raise ResourceDoesNotExist(f"Schema '{parts[1]}.{parts[2]}' does not exist (in {path}); create it with "
                                   "CREATE SCHEMA first.", error_code="NOT_FOUND") from None
    return path


# -- workspace ---------------------------------------------------------------------------------------

@router.post("/api/2.0/workspace/import")
async def workspace_import(request: Request) -> dict:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        await read_body(request, MAX_IMPORT_BYTES + 64 * 1024, "content")
        form = await request.form()
        upload = form.get("content")
        content = await upload.read() if isinstance(upload, UploadFile) else (str(upload or "")).encode()
        path = form.get("path")
        fmt, language = form.get("format"), form.get("language")
        overwrite = str(form.get("overwrite", "false")).lower() == "true"
    else:
        body = await json_body(request, MAX_IMPORT_BYTES * 2)
        path = field(body, "path", str, required=True)
        try:
            content = base64.b64decode(field(body, "content", str, default=""), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidParameterValue("Invalid content: not valid base64.") from None
        fmt, language = field(body, "format", str), field(body, "language", str)
        overwrite = field(body, "overwrite", bool, default=False)
    path = path if isinstance(path, str) else None
    _writable(request, path)
    _tree(request).import_(path, content, fmt, language, overwrite)
    return {}


def _writable(request: Request, path: str | None, home_itself: bool = False) -> None:
    """Refuse a change where the caller may not make it (``WorkspaceTree.check_writable``)."""
    if path:
        _tree(request).check_writable(path, request.state.user, request.state.role == ADMIN, home_itself)


@router.get("/api/2.0/workspace/export")
def workspace_export(request: Request) -> Response:
    path, fmt = request.query_params.get("path"), request.query_params.get("format")
    if query_bool(request, "direct_download"):
        content, _ = _tree(request).export(path, fmt)
        return Response(content, media_type="application/octet-stream")
    return Response(_json(_tree(request).export_b64(path, fmt)), media_type="application/json")


def _json(body: dict) -> bytes:
    import json

    return json.dumps(body).encode()


@router.get("/api/2.0/workspace/list")
def workspace_list(request: Request) -> dict:
    return {"objects": _tree(request).list(request.query_params.get("path"))}


@router.get("/api/2.0/workspace/get-status")
def workspace_get_status(request: Request) -> dict:
    return _tree(request).get_status(request.query_params.get("path"))


@router.post("/api/2.0/workspace/mkdirs")
async def workspace_mkdirs(request: Request) -> dict:
    body = await json_body(request)
    path = field(body, "path", str, required=True)
    _writable(request, path, home_itself=True)
    _tree(request).mkdirs(path)
    return {}


@router.post("/api/2.0/workspace/delete")
async def workspace_delete(request: Request) -> dict:
    body = await json_body(request)
    path = field(body, "path", str, required=True)
    _writable(request, path)
    _tree(request).delete(path, field(body, "recursive", bool, default=False))
    return {}


@router.post("/api/2.0/workspace-files/import-file/{path:path}")
async def workspace_import_file(path: str, request: Request) -> dict:
    content = await read_body(request, MAX_IMPORT_BYTES, "The file")
    _writable(request, "/" + path.lstrip("/"))
    _tree(request).import_file("/" + path.lstrip("/"), content, query_bool(request, "overwrite"))
    return {}


@router.get("/api/2.0/workspace-files/{path:path}")
def workspace_file_get(path: str, request: Request) -> Response:
    content, _ = _tree(request).export("/" + path.lstrip("/"), "SOURCE")
    return Response(content, media_type="application/octet-stream")


# -- DBFS 2.0 ----------------------------------------------------------------------------------------

@router.get("/api/2.0/dbfs/get-status")
def dbfs_get_status(request: Request) -> dict:
    return _dbfs(request).get_status(request.query_params.get("path"))


@router.get("/api/2.0/dbfs/list")
def dbfs_list(request: Request) -> dict:
    return {"files": _dbfs(request).list(request.query_params.get("path"))}


@router.post("/api/2.0/dbfs/mkdirs")
async def dbfs_mkdirs(request: Request) -> dict:
    _dbfs(request).mkdirs(field(await json_body(request), "path", str, required=True))
    return {}


@router.post("/api/2.0/dbfs/delete")
async def dbfs_delete(request: Request) -> dict:
    body = await json_body(request)
    _dbfs(request).delete(field(body, "path", str, required=True), field(body, "recursive", bool, default=False))
    return {}


@router.post("/api/2.0/dbfs/move")
async def dbfs_move(request: Request) -> dict:
    body = await json_body(request)
    _dbfs(request).move(field(body, "source_path", str, required=True),
                        field(body, "destination_path", str, required=True))
    return {}


@router.post("/api/2.0/dbfs/put")
async def dbfs_put(request: Request) -> dict:
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        await read_body(request, 2 * 1024 * 1024, "contents")
        form = await request.form()
        upload = form.get("file") or form.get("contents")  # the legacy CLI names the part "file"
        data = await upload.read() if isinstance(upload, UploadFile) else str(upload or "").encode()
        _dbfs(request).put(str(form.get("path") or ""), base64.b64encode(data).decode(),
                           str(form.get("overwrite", "false")).lower() == "true")
        return {}
    body = await json_body(request, 4 * 1024 * 1024)
    _dbfs(request).put(field(body, "path", str, required=True), field(body, "contents", str, default=""),
                       field(body, "overwrite", bool, default=False))
    return {}


@router.post("/api/2.0/dbfs/create")
async def dbfs_create(request: Request) -> dict:
    body = await json_body(request)
    return {"handle": _dbfs(request).create(field(body, "path", str, required=True),
                                            field(body, "overwrite", bool, default=False))}


@router.post("/api/2.0/dbfs/add-block")
async def dbfs_add_block(request: Request) -> dict:
    body = await json_body(request, 4 * 1024 * 1024)
    _dbfs(request).add_block(body.get("handle"), field(body, "data", str, required=True))
    return {}


@router.post("/api/2.0/dbfs/close")
async def dbfs_close(request: Request) -> dict:
    body = await json_body(request)
    _dbfs(request).close(body.get("handle"))
    return {}


@router.get("/api/2.0/dbfs/read")
def dbfs_read(request: Request) -> dict:
    return _dbfs(request).read(request.query_params.get("path"), query_int(request, "offset", 0),
                               query_int(request, "length", DEFAULT_READ))


# -- Files API (Volumes) -----------------------------------------------------------------------------

@router.post("/api/2.0/fs/create-download-url")
@router.post("/api/2.0/fs/create-upload-part-urls")
@router.post("/api/2.0/fs/create-upload-url")
def files_presigned(request: Request) -> dict:
    raise NotImplementedLocally("Presigned URLs are not available locally; use GET/PUT /api/2.0/fs/files directly.")


@router.put("/api/2.0/fs/files/{path:path}")
async def files_upload(path: str, request: Request) -> Response:
    """Streamed to a temporary file beside the target and renamed when complete: never held in memory."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_FILE_UPLOAD:
        raise RequestTooLarge(f"The file is {declared} bytes; the limit is {MAX_FILE_UPLOAD}.")
    volumes = _files(request, path)
    # "If true or unspecified, an existing file will be overwritten" (Databricks' Files API)
    upload = volumes.begin_upload(_in_a_schema(request, "/" + path.lstrip("/")),
                                  query_bool(request, "overwrite", default=True))
    try:
        with upload.tmp.open("wb") as fh:
            async for chunk in request.stream():
                upload.size += len(chunk)
                if upload.size > MAX_FILE_UPLOAD:
                    raise RequestTooLarge(f"The file is over {MAX_FILE_UPLOAD} bytes, the limit.")
                fh.write(chunk)
        volumes.finish_upload(upload)
    finally:
        upload.tmp.unlink(missing_ok=True)
    return Response(status_code=204)


@router.post("/api/2.0/fs/files/{path:path}")
def files_post(path: str, request: Request) -> dict:
    raise NotImplementedLocally("Multipart uploads are not supported locally; upload with a single PUT.")


@router.get("/api/2.0/fs/files/{path:path}")
def files_download(path: str, request: Request) -> Response:
    local = _files(request, path).file("/" + path.lstrip("/"))
    return FileResponse(local, media_type=mimetypes.guess_type(local.name)[0] or "application/octet-stream",
                        headers={"Last-Modified": formatdate(local.stat().st_mtime, usegmt=True)})


@router.head("/api/2.0/fs/files/{path:path}")
def files_metadata(path: str, request: Request) -> Response:
    local = _files(request, path).file("/" + path.lstrip("/"))
    st = local.stat()
    return Response(headers={"Content-Length": str(st.st_size), "Content-Type": "application/octet-stream",
                             "Last-Modified": formatdate(st.st_mtime, usegmt=True)})


@router.delete("/api/2.0/fs/files/{path:path}")
def files_delete(path: str, request: Request) -> Response:
    _files(request, path).delete("/" + path.lstrip("/"))
    return Response(status_code=204)


@router.get("/api/2.0/fs/directories/{path:path}")
def directories_list(path: str, request: Request) -> dict:
    return {"contents": _files(request, path).list_directory("/" + path.strip("/"))}


@router.put("/api/2.0/fs/directories/{path:path}")
def directories_create(path: str, request: Request) -> Response:
    _files(request, path).create_directory(_in_a_schema(request, "/" + path.strip("/")))
    return Response(status_code=204)


@router.delete("/api/2.0/fs/directories/{path:path}")
def directories_delete(path: str, request: Request) -> Response:
    _files(request, path).delete_directory("/" + path.strip("/"))
    return Response(status_code=204)


@router.head("/api/2.0/fs/directories/{path:path}")
def directories_metadata(path: str, request: Request) -> Response:
    _files(request, path).list_directory("/" + path.strip("/"))
    return Response(status_code=200)


# -- /dbfs/<path>: whole files up and down, as MLflow's DbfsRestArtifactRepository reads and writes run artifacts ----

@router.post("/dbfs/{path:path}")
async def dbfs_file_upload(path: str, request: Request) -> dict:
    """The body is the file (streamed to a temporary file beside it, renamed when complete); existing files are
    overwritten, as Databricks does for this route."""
    name, local = _dbfs(request).local("/" + path.lstrip("/"))
    if local.is_dir():
        raise InvalidParameterValue(f"{name} is a directory; upload to a file path under it.")
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(local.name + UPLOAD_SUFFIX)
    size = 0
    try:
        with tmp.open("wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_FILE_UPLOAD:
                    raise RequestTooLarge(f"The file is over {MAX_FILE_UPLOAD} bytes, the limit.")
                fh.write(chunk)
        tmp.replace(local)
    finally:
        tmp.unlink(missing_ok=True)
    return {}


@router.get("/dbfs/{path:path}")
def dbfs_file_download(path: str, request: Request) -> Response:
    name, local = _dbfs(request).local("/" + path.lstrip("/"))
    if not local.is_file():
        raise ResourceDoesNotExist(f"No file at dbfs:{name}.")
    return FileResponse(local, media_type="application/octet-stream")
