"""The SQL warehouse's Thrift endpoint: TCLIService over HTTP, as the Databricks SQL connector speaks it.

Built on the Thrift definitions the connector itself ships (``databricks.sql.thrift_api.TCLIService``: its
generated ``Processor`` decodes every call and encodes every answer) and on the ``thrift`` library; nothing here
writes wire bytes by hand. ``ThriftService.process(body, principal)`` answers one HTTP POST.

Results go out as Arrow IPC batches (``ARROW_BASED_SET``) to clients that read Arrow, in the types the client asks
for (decimals, timestamps and nested types natively or as strings), or as columns (``COLUMN_BASED_SET``) to clients
without pyarrow. Errors carry the message, the Spark error class and the SQLSTATE.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import uuid
from typing import Any

import pyarrow as pa
from databricks.sql.thrift_api.TCLIService import TCLIService
from databricks.sql.thrift_api.TCLIService import ttypes as T
from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

from odoolake.workspace.catalog.store import CatalogStore
from odoolake.workspace.engine.interrupts import PENDING, RUNNING
from odoolake.workspace.errors import ApiError
from odoolake.workspace.sql import operations as ops
from odoolake.workspace.sql import show_metadata
from odoolake.workspace.sql.metadata import Metadata
from odoolake.workspace.sql.operations import FINISHED, SqlOperation, SqlOperations
from odoolake.workspace.sql.results import DAY_TIME, INTERVAL_KIND, YEAR_MONTH, json_text
from odoolake.workspace.sql.sessions import SqlSessions
from odoolake.workspace.sql.spark_text import java_number_text
from odoolake.workspace.sql.statements import SqlFailure, parameter_value

LOG = logging.getLogger(__name__)

SERVER_PROTOCOL = T.TProtocolVersion.SPARK_CLI_SERVICE_PROTOCOL_V8
DIRECT_RESULTS_WAIT = 5.0  # seconds ExecuteStatement waits to answer with the result itself
STATUS_WAIT = 2.0  # seconds GetOperationStatus waits for a running statement to end (the client polls at once)
DEFAULT_ROWS = 100_000
_STATES = {PENDING: T.TOperationState.PENDING_STATE, RUNNING: T.TOperationState.RUNNING_STATE,
           ops.FINISHED: T.TOperationState.FINISHED_STATE, ops.ERROR: T.TOperationState.ERROR_STATE,
           ops.CANCELED: T.TOperationState.CANCELED_STATE, ops.CLOSED: T.TOperationState.CLOSED_STATE}
_KINDS = {name: getattr(T.TOperationType, name) for name in ("EXECUTE_STATEMENT", "GET_CATALOGS", "GET_SCHEMAS",
                                                            "GET_TABLES", "GET_TABLE_TYPES", "GET_COLUMNS")}
_OK = T.TStatus(statusCode=T.TStatusCode.SUCCESS_STATUS)


def _error_status(failure: SqlFailure, code: int = T.TStatusCode.ERROR_STATUS) -> T.TStatus:
    return T.TStatus(statusCode=code, errorMessage=failure.message, displayMessage=failure.message,
                     sqlState=failure.sql_state, errorCode=0)


# -- types ---------------------------------------------------------------------------------------------------------

_INTERVAL_TYPE_IDS = {DAY_TIME: T.TTypeId.INTERVAL_DAY_TIME_TYPE, YEAR_MONTH: T.TTypeId.INTERVAL_YEAR_MONTH_TYPE}


def _type_id(field: pa.Field) -> int:
    kind, Id = field.type, T.TTypeId
    if field.metadata and INTERVAL_KIND in field.metadata:  # the text of an interval (results.py)
        return _INTERVAL_TYPE_IDS[field.metadata[INTERVAL_KIND]]
    checks = ((pa.types.is_boolean, Id.BOOLEAN_TYPE), (pa.types.is_int8, Id.TINYINT_TYPE),
              (pa.types.is_int16, Id.SMALLINT_TYPE), (pa.types.is_int32, Id.INT_TYPE),
              (pa.types.is_int64, Id.BIGINT_TYPE), (pa.types.is_float32, Id.FLOAT_TYPE),
              (pa.types.is_float64, Id.DOUBLE_TYPE), (pa.types.is_decimal, Id.DECIMAL_TYPE),
              (pa.types.is_date, Id.DATE_TYPE), (pa.types.is_timestamp, Id.TIMESTAMP_TYPE),
              (pa.types.is_binary, Id.BINARY_TYPE), (pa.types.is_large_binary, Id.BINARY_TYPE),
              (pa.types.is_list, Id.ARRAY_TYPE), (pa.types.is_large_list, Id.ARRAY_TYPE),
              (pa.types.is_map, Id.MAP_TYPE), (pa.types.is_struct, Id.STRUCT_TYPE), (pa.types.is_null, Id.NULL_TYPE))
    for check, type_id in checks:
        if check(kind):
            return type_id
    return Id.STRING_TYPE


def hive_schema(schema: pa.Schema) -> T.TTableSchema:
    """The result's columns in Hive's terms (what the connector builds ``cursor.description`` from)."""
    columns = []
    for position, field in enumerate(schema):
        qualifiers = None
        if pa.types.is_decimal(field.type):
            qualifiers = T.TTypeQualifiers(qualifiers={
                "precision": T.TTypeQualifierValue(i32Value=field.type.precision),
                "scale": T.TTypeQualifierValue(i32Value=field.type.scale)})
        entry = T.TPrimitiveTypeEntry(type=_type_id(field), typeQualifiers=qualifiers)
        columns.append(T.TColumnDesc(columnName=field.name, position=position,
                                     typeDesc=T.TTypeDesc(types=[T.TTypeEntry(primitiveEntry=entry)])))
    return T.TTableSchema(columns=columns)


def _nested(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind) or \
        pa.types.is_struct(kind)


def _json(value: Any, kind: pa.DataType) -> Any:
    """A nested value read by its Arrow type, for :func:`results.json_text` (pyarrow gives a map as a list of pairs,
    an empty one as [], and a FLOAT as the double it widens to)."""
    if value is None:
        return None
    if pa.types.is_map(kind):  # an array key kept as a tuple, which a dict can hold
        return {_hashable(_json(key, kind.key_type)): _json(item, kind.item_type) for key, item in value}
    if pa.types.is_struct(kind):
        return {field.name: _json(value[field.name], field.type) for field in kind}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return [_json(item, kind.value_type) for item in value]
    if pa.types.is_float32(kind) and math.isfinite(value):
        return float(java_number_text(value, single=True))
    return value


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def client_table(table: pa.Table, native: T.TSparkArrowTypes | None, arrow: bool) -> pa.Table:
    """The result in the types this client reads: what it does not take natively goes as strings, as Databricks
    sends it (decimals and timestamps as text, nested values as JSON; intervals are text already)."""
    decimals = arrow and bool(native and native.decimalAsArrow)
    timestamps = arrow and bool(native and native.timestampAsArrow)
    nested = arrow and bool(native and native.complexTypesAsArrow)
    columns, fields = [], []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        as_text = (pa.types.is_decimal(kind) and not decimals) or (pa.types.is_timestamp(kind) and not timestamps) \
            or (_nested(kind) and not nested) or (not arrow and (pa.types.is_date(kind) or pa.types.is_timestamp(kind)))
        if as_text:
            if _nested(kind):
                column = pa.array([None if v is None else json_text(_json(v, kind)) for v in column.to_pylist()],
                                  pa.string())
            elif pa.types.is_timestamp(kind):
                column = pa.array([None if v is None else v.isoformat(sep=" ") for v in column.to_pylist()],
                                  pa.string())
            else:
                column = pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
            field = pa.field(field.name, pa.string())
        columns.append(column)
        fields.append(field.remove_metadata())  # the interval marks (results.INTERVAL_KIND) are for the schema only
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _arrow_rowset(start: int, piece: pa.Table) -> T.TRowSet:
    batches = [T.TSparkArrowBatch(batch=batch.serialize().to_pybytes(), rowCount=batch.num_rows)
               for batch in piece.combine_chunks().to_batches() if batch.num_rows]
    return T.TRowSet(startRowOffset=start, rows=[], arrowBatches=batches)


def _nulls(values: list) -> bytes:
    bits = bytearray((len(values) + 7) // 8)
    for i, v in enumerate(values):
        if v is None:
            bits[i // 8] |= 1 << (i % 8)
    return bytes(bits)


def _column(kind: pa.DataType, values: list) -> T.TColumn:
    nulls = _nulls(values)
    if pa.types.is_boolean(kind):
        return T.TColumn(boolVal=T.TBoolColumn(values=[bool(v) for v in values], nulls=nulls))
    for check, name, wrapper in ((pa.types.is_int8, "byteVal", T.TByteColumn), (pa.types.is_int16, "i16Val",
                                 T.TI16Column), (pa.types.is_int32, "i32Val", T.TI32Column),
                                 (pa.types.is_int64, "i64Val", T.TI64Column)):
        if check(kind):
            return T.TColumn(**{name: wrapper(values=[v or 0 for v in values], nulls=nulls)})
    if pa.types.is_floating(kind):
        return T.TColumn(doubleVal=T.TDoubleColumn(values=[v or 0.0 for v in values], nulls=nulls))
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return T.TColumn(binaryVal=T.TBinaryColumn(values=[v or b"" for v in values], nulls=nulls))
    return T.TColumn(stringVal=T.TStringColumn(values=["" if v is None else str(v) for v in values], nulls=nulls))


def _column_rowset(start: int, piece: pa.Table) -> T.TRowSet:
    return T.TRowSet(startRowOffset=start, rows=[],
                     columns=[_column(f.type, c.to_pylist()) for f, c in zip(piece.schema, piece.columns,
                                                                             strict=True)])


# -- the service ---------------------------------------------------------------------------------------------------

def _guid(hex_id: str) -> T.THandleIdentifier:
    return T.THandleIdentifier(guid=uuid.UUID(hex_id).bytes, secret=os.urandom(16))


def _hex(handle: Any) -> str:
    return str(uuid.UUID(bytes=bytes(handle.guid)))


class ThriftService:
    """Sessions, operations and the catalog behind ``/sql/1.0/warehouses/<id>``."""

    def __init__(self, sessions: SqlSessions, operations: SqlOperations, catalog: CatalogStore) -> None:
        self.sessions = sessions
        self.operations = operations
        self.metadata = Metadata(catalog)

    def process(self, body: bytes, principal: str) -> bytes:
        """Answer one Thrift call (the body of one HTTP POST) made by ``principal``."""
        reader = TTransport.TMemoryBuffer(body)
        writer = TTransport.TMemoryBuffer()
        processor = TCLIService.Processor(Handler(self, principal))
        processor.process(TBinaryProtocol.TBinaryProtocol(reader), TBinaryProtocol.TBinaryProtocol(writer))
        return writer.getvalue()


class Handler(TCLIService.Iface):
    """The TCLIService calls of one principal."""

    def __init__(self, service: ThriftService, principal: str) -> None:
        self.service = service
        self.principal = principal

    # -- sessions --------------------------------------------------------------------------------------------------

    def OpenSession(self, req: T.TOpenSessionReq) -> T.TOpenSessionResp:
        namespace = req.initialNamespace
        try:
            session = self.service.sessions.open(self.principal, namespace.catalogName if namespace else None,
                                                 namespace.schemaName if namespace else None, req.configuration)
        except Exception as exc:
            return T.TOpenSessionResp(status=_error_status(SqlFailure.of(exc)), serverProtocolVersion=SERVER_PROTOCOL)
        version = min(req.client_protocol_i64 or req.client_protocol or SERVER_PROTOCOL, SERVER_PROTOCOL)
        return T.TOpenSessionResp(status=_OK, serverProtocolVersion=version, canUseMultipleCatalogs=True,
                                  sessionHandle=T.TSessionHandle(sessionId=_guid(session.session_id),
                                                                 serverProtocolVersion=version),
                                  configuration={})

    def CloseSession(self, req: T.TCloseSessionReq) -> T.TCloseSessionResp:
        session_id = _hex(req.sessionHandle.sessionId)
        try:
            self.service.operations.close_session(session_id)
            self.service.sessions.close(session_id, self.principal)
        except ApiError as exc:
            return T.TCloseSessionResp(status=_error_status(SqlFailure.of(exc), T.TStatusCode.INVALID_HANDLE_STATUS))
        return T.TCloseSessionResp(status=_OK)

    def GetInfo(self, req: T.TGetInfoReq) -> T.TGetInfoResp:
        values = {T.TGetInfoType.CLI_SERVER_NAME: "odoolake", T.TGetInfoType.CLI_DBMS_NAME: "Spark SQL",
                  T.TGetInfoType.CLI_DBMS_VER: "3.5.0"}
        value = values.get(req.infoType)
        if value is None:
            return T.TGetInfoResp(status=_error_status(SqlFailure(f"GetInfo {req.infoType} is not answered by the "
                                                                  "local SQL warehouse.")))
        return T.TGetInfoResp(status=_OK, infoValue=T.TGetInfoValue(stringValue=value))

    # -- statements ------------------------------------------------------------------------------------------------

    def ExecuteStatement(self, req: T.TExecuteStatementReq) -> T.TExecuteStatementResp:
        try:
            session = self.service.sessions.get(_hex(req.sessionHandle.sessionId), self.principal)
            args = _arguments(req.parameters)
        except ApiError as exc:
            code = T.TStatusCode.INVALID_HANDLE_STATUS if exc.status == 404 else T.TStatusCode.ERROR_STATUS
            return T.TExecuteStatementResp(status=_error_status(SqlFailure.of(exc), code))
        shown = show_metadata.producer(req.statement, self.service.metadata)
        op = self.service.operations.answered(session, "EXECUTE_STATEMENT", shown) if shown is not None else \
            self.service.operations.execute(session, req.statement, args, req.resultRowLimit or None)
        op.extra.update(arrow=bool(req.canReadArrowResult), native=req.useArrowNativeTypes)
        direct = None
        wants_direct = req.getDirectResults is not None or not req.runAsync
        if wants_direct and op.wait(DIRECT_RESULTS_WAIT if req.runAsync else 24 * 3600):
            direct = self._direct(op, req.getDirectResults)
        return T.TExecuteStatementResp(status=_OK, operationHandle=self._handle(op), directResults=direct)

    def _metadata(self, req: Any, kind: str, produce: Any, response: Any) -> Any:
        try:
            session = self.service.sessions.get(_hex(req.sessionHandle.sessionId), self.principal)
        except ApiError as exc:
            return response(status=_error_status(SqlFailure.of(exc), T.TStatusCode.INVALID_HANDLE_STATUS))
        op = self.service.operations.answered(session, kind, produce)
        op.extra.update(arrow=True, native=None)
        return response(status=_OK, operationHandle=self._handle(op),
                        directResults=self._direct(op, req.getDirectResults))

    def GetCatalogs(self, req: T.TGetCatalogsReq) -> T.TGetCatalogsResp:
        return self._metadata(req, "GET_CATALOGS", self.service.metadata.catalogs, T.TGetCatalogsResp)

    def GetSchemas(self, req: T.TGetSchemasReq) -> T.TGetSchemasResp:
        return self._metadata(req, "GET_SCHEMAS", lambda: self.service.metadata.schemas(req.catalogName,
                                                                                        req.schemaName),
                              T.TGetSchemasResp)

    def GetTables(self, req: T.TGetTablesReq) -> T.TGetTablesResp:
        return self._metadata(req, "GET_TABLES", lambda: self.service.metadata.tables(
            req.catalogName, req.schemaName, req.tableName, req.tableTypes), T.TGetTablesResp)

    def GetTableTypes(self, req: T.TGetTableTypesReq) -> T.TGetTableTypesResp:
        return self._metadata(req, "GET_TABLE_TYPES", self.service.metadata.table_types, T.TGetTableTypesResp)

    def GetColumns(self, req: T.TGetColumnsReq) -> T.TGetColumnsResp:
        return self._metadata(req, "GET_COLUMNS", lambda: self.service.metadata.columns(
            req.catalogName, req.schemaName, req.tableName, req.columnName), T.TGetColumnsResp)

    def GetPrimaryKeys(self, req: T.TGetPrimaryKeysReq) -> T.TGetPrimaryKeysResp:
        return self._metadata(req, "UNKNOWN", self.service.metadata.primary_keys, T.TGetPrimaryKeysResp)

    def GetCrossReference(self, req: T.TGetCrossReferenceReq) -> T.TGetCrossReferenceResp:
        return self._metadata(req, "UNKNOWN", self.service.metadata.foreign_keys, T.TGetCrossReferenceResp)

    def GetTypeInfo(self, req: T.TGetTypeInfoReq) -> T.TGetTypeInfoResp:
        return T.TGetTypeInfoResp(status=_error_status(SqlFailure(
            "GetTypeInfo is not supported by the local SQL warehouse.", "0A000")))

    def GetFunctions(self, req: T.TGetFunctionsReq) -> T.TGetFunctionsResp:
        return T.TGetFunctionsResp(status=_error_status(SqlFailure(
            "GetFunctions is not supported by the local SQL warehouse; run SHOW FUNCTIONS.", "0A000")))

    # -- operations ------------------------------------------------------------------------------------------------

    def _op(self, handle: T.TOperationHandle) -> SqlOperation:
        return self.service.operations.get(_hex(handle.operationId), self.principal)

    def _handle(self, op: SqlOperation) -> T.TOperationHandle:
        return T.TOperationHandle(operationId=_guid(op.op_id), operationType=_KINDS.get(op.kind,
                                                                                        T.TOperationType.UNKNOWN),
                                  hasResultSet=True)

    def _status(self, op: SqlOperation) -> T.TGetOperationStatusResp:
        resp = T.TGetOperationStatusResp(status=_OK, operationState=_STATES[op.state], hasResultSet=True,
                                         operationStarted=int(op.started * 1000),
                                         operationCompleted=int(op.completed * 1000) if op.completed else None,
                                         numModifiedRows=op.modified_rows)
        if op.failure is not None:
            resp.errorMessage = resp.displayMessage = op.failure.message
            resp.sqlState = op.failure.sql_state
            if op.failure.error_class:
                resp.errorDetailsJson = json.dumps({"error_class": op.failure.error_class,
                                                    "sqlState": op.failure.sql_state})
        return resp

    def _metadata_of(self, op: SqlOperation) -> T.TGetResultSetMetadataResp:
        table = self._client_result(op)
        arrow = op.extra["arrow"]
        return T.TGetResultSetMetadataResp(
            status=_OK, schema=hive_schema(op.extra["engine_schema"]), lz4Compressed=False,
            resultFormat=T.TSparkRowSetType.ARROW_BASED_SET if arrow else T.TSparkRowSetType.COLUMN_BASED_SET,
            arrowSchema=table.schema.serialize().to_pybytes() if arrow else None, isStagingOperation=False)

    @staticmethod
    def _client_result(op: SqlOperation) -> pa.Table:
        """The result in the client's types (converted once; the engine's schema is kept for the column types)."""
        assert op.table is not None
        if "engine_schema" not in op.extra:
            op.extra["engine_schema"] = op.table.schema
            op.table = client_table(op.table, op.extra["native"], op.extra["arrow"])
        return op.table

    def _rows(self, op: SqlOperation, max_rows: int | None, max_bytes: int | None) -> tuple[T.TRowSet, bool]:
        self._client_result(op)
        start, piece, more = op.take(max_rows or DEFAULT_ROWS, max_bytes)
        rowset = _arrow_rowset(start, piece) if op.extra["arrow"] else _column_rowset(start, piece)
        return rowset, more

    def _direct(self, op: SqlOperation, wanted: T.TSparkGetDirectResults | None) -> T.TSparkDirectResults:
        direct = T.TSparkDirectResults(operationStatus=self._status(op))
        if op.state == FINISHED and op.table is not None:
            direct.resultSetMetadata = self._metadata_of(op)
            rows, more = self._rows(op, wanted.maxRows if wanted else None, wanted.maxBytes if wanted else None)
            direct.resultSet = T.TFetchResultsResp(status=_OK, hasMoreRows=more, results=rows)
            if not more:  # everything was sent: the operation ends here, as on Databricks
                self.service.operations.close(op.op_id, self.principal)
                direct.closeOperation = T.TCloseOperationResp(status=_OK)
        return direct

    def GetOperationStatus(self, req: T.TGetOperationStatusReq) -> T.TGetOperationStatusResp:
        try:
            op = self._op(req.operationHandle)
        except ApiError as exc:
            return T.TGetOperationStatusResp(status=_error_status(SqlFailure.of(exc),
                                                                  T.TStatusCode.INVALID_HANDLE_STATUS))
        op.wait(STATUS_WAIT)
        return self._status(op)

    def GetResultSetMetadata(self, req: T.TGetResultSetMetadataReq) -> T.TGetResultSetMetadataResp:
        try:
            op = self._finished(req.operationHandle)
        except ApiError as exc:
            return T.TGetResultSetMetadataResp(status=_error_status(SqlFailure.of(exc)))
        return self._metadata_of(op)

    def _finished(self, handle: T.TOperationHandle) -> SqlOperation:
        op = self._op(handle)
        if op.state != FINISHED or op.table is None:
            failure = op.failure.message if op.failure else ""
            raise ApiError(f"Operation {op.op_id} is {op.state}; results exist only when it finished. {failure}",
                           error_code="INVALID_STATE", status=400)
        return op

    def FetchResults(self, req: T.TFetchResultsReq) -> T.TFetchResultsResp:
        try:
            op = self._finished(req.operationHandle)
        except ApiError as exc:
            return T.TFetchResultsResp(status=_error_status(SqlFailure.of(exc)))
        if req.orientation == T.TFetchOrientation.FETCH_FIRST:
            op.rewind()
        rows, more = self._rows(op, req.maxRows, req.maxBytes)
        resp = T.TFetchResultsResp(status=_OK, hasMoreRows=more, results=rows)
        if req.includeResultSetMetadata:
            resp.resultSetMetadata = self._metadata_of(op)
        return resp

    def CancelOperation(self, req: T.TCancelOperationReq) -> T.TCancelOperationResp:
        try:
            self.service.operations.cancel(_hex(req.operationHandle.operationId), self.principal)
        except ApiError as exc:
            return T.TCancelOperationResp(status=_error_status(SqlFailure.of(exc),
                                                               T.TStatusCode.INVALID_HANDLE_STATUS))
        return T.TCancelOperationResp(status=_OK)

    def CloseOperation(self, req: T.TCloseOperationReq) -> T.TCloseOperationResp:
        with contextlib.suppress(ApiError):  # already closed (its results were sent whole): closing twice is fine
            self.service.operations.close(_hex(req.operationHandle.operationId), self.principal)
        return T.TCloseOperationResp(status=_OK)

    def GetDelegationToken(self, req: Any) -> Any:
        return T.TGetDelegationTokenResp(status=_error_status(SqlFailure("Delegation tokens are not used here.")))

    def CancelDelegationToken(self, req: Any) -> Any:
        return T.TCancelDelegationTokenResp(status=_error_status(SqlFailure("Delegation tokens are not used here.")))

    def RenewDelegationToken(self, req: Any) -> Any:
        return T.TRenewDelegationTokenResp(status=_error_status(SqlFailure("Delegation tokens are not used here.")))


def _arguments(params: list[T.TSparkParameter] | None) -> dict[str, Any] | list[Any] | None:
    """Native parameters as the engine binds them: by name (``:name``) or by position (``?``)."""
    if not params:
        return None
    values = []
    for i, p in enumerate(params):
        if p.arguments:
            raise ApiError(f"Parameter {p.name or i + 1}: ARRAY, MAP and STRUCT parameters are not supported by the "
                           "local SQL warehouse; pass the values one by one.", error_code="INVALID_PARAMETER_VALUE",
                           status=400)
        raw = None if p.value is None else p.value.stringValue
        values.append(parameter_value(raw, p.type or "STRING", p.name or str(i + 1)))
    if all(p.name for p in params):
        return {p.name: v for p, v in zip(params, values, strict=True)}
    return values
