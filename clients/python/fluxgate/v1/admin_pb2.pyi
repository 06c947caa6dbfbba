import datetime

from fluxgate.v1 import sale_pb2 as _sale_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UpsertSaleRequest(_message.Message):
    __slots__ = ("sale",)
    SALE_FIELD_NUMBER: _ClassVar[int]
    sale: _sale_pb2.Sale
    def __init__(self, sale: _Optional[_Union[_sale_pb2.Sale, _Mapping]] = ...) -> None: ...

class UpsertSaleResponse(_message.Message):
    __slots__ = ("sale", "created", "live_reload_pending")
    SALE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    LIVE_RELOAD_PENDING_FIELD_NUMBER: _ClassVar[int]
    sale: _sale_pb2.Sale
    created: bool
    live_reload_pending: bool
    def __init__(self, sale: _Optional[_Union[_sale_pb2.Sale, _Mapping]] = ..., created: _Optional[bool] = ..., live_reload_pending: _Optional[bool] = ...) -> None: ...

class RestockRequest(_message.Message):
    __slots__ = ("sku", "units", "idempotency_key")
    SKU_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    sku: str
    units: int
    idempotency_key: str
    def __init__(self, sku: _Optional[str] = ..., units: _Optional[int] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RestockResponse(_message.Message):
    __slots__ = ("sale", "stock", "live_reload_pending", "replayed")
    SALE_FIELD_NUMBER: _ClassVar[int]
    STOCK_FIELD_NUMBER: _ClassVar[int]
    LIVE_RELOAD_PENDING_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    sale: _sale_pb2.Sale
    stock: _sale_pb2.Stock
    live_reload_pending: bool
    replayed: bool
    def __init__(self, sale: _Optional[_Union[_sale_pb2.Sale, _Mapping]] = ..., stock: _Optional[_Union[_sale_pb2.Stock, _Mapping]] = ..., live_reload_pending: _Optional[bool] = ..., replayed: _Optional[bool] = ...) -> None: ...

class PauseSaleRequest(_message.Message):
    __slots__ = ("sku",)
    SKU_FIELD_NUMBER: _ClassVar[int]
    sku: str
    def __init__(self, sku: _Optional[str] = ...) -> None: ...

class PauseSaleResponse(_message.Message):
    __slots__ = ("sale", "live_reload_pending")
    SALE_FIELD_NUMBER: _ClassVar[int]
    LIVE_RELOAD_PENDING_FIELD_NUMBER: _ClassVar[int]
    sale: _sale_pb2.Sale
    live_reload_pending: bool
    def __init__(self, sale: _Optional[_Union[_sale_pb2.Sale, _Mapping]] = ..., live_reload_pending: _Optional[bool] = ...) -> None: ...

class ResumeSaleRequest(_message.Message):
    __slots__ = ("sku",)
    SKU_FIELD_NUMBER: _ClassVar[int]
    sku: str
    def __init__(self, sku: _Optional[str] = ...) -> None: ...

class ResumeSaleResponse(_message.Message):
    __slots__ = ("sale", "live_reload_pending")
    SALE_FIELD_NUMBER: _ClassVar[int]
    LIVE_RELOAD_PENDING_FIELD_NUMBER: _ClassVar[int]
    sale: _sale_pb2.Sale
    live_reload_pending: bool
    def __init__(self, sale: _Optional[_Union[_sale_pb2.Sale, _Mapping]] = ..., live_reload_pending: _Optional[bool] = ...) -> None: ...

class ListSalesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSalesResponse(_message.Message):
    __slots__ = ("sales",)
    SALES_FIELD_NUMBER: _ClassVar[int]
    sales: _containers.RepeatedCompositeFieldContainer[_sale_pb2.Sale]
    def __init__(self, sales: _Optional[_Iterable[_Union[_sale_pb2.Sale, _Mapping]]] = ...) -> None: ...

class GetSaleStatsRequest(_message.Message):
    __slots__ = ("sku",)
    SKU_FIELD_NUMBER: _ClassVar[int]
    sku: str
    def __init__(self, sku: _Optional[str] = ...) -> None: ...

class GetSaleStatsResponse(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: SaleStats
    def __init__(self, stats: _Optional[_Union[SaleStats, _Mapping]] = ...) -> None: ...

class SaleStats(_message.Message):
    __slots__ = ("sku", "accepted", "sold_out_refusals", "rate_limited", "replays", "pending", "confirmed", "rejected", "dead_lettered")
    SKU_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    SOLD_OUT_REFUSALS_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITED_FIELD_NUMBER: _ClassVar[int]
    REPLAYS_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERED_FIELD_NUMBER: _ClassVar[int]
    sku: str
    accepted: int
    sold_out_refusals: int
    rate_limited: int
    replays: int
    pending: int
    confirmed: int
    rejected: int
    dead_lettered: int
    def __init__(self, sku: _Optional[str] = ..., accepted: _Optional[int] = ..., sold_out_refusals: _Optional[int] = ..., rate_limited: _Optional[int] = ..., replays: _Optional[int] = ..., pending: _Optional[int] = ..., confirmed: _Optional[int] = ..., rejected: _Optional[int] = ..., dead_lettered: _Optional[int] = ...) -> None: ...

class ReconcileRequest(_message.Message):
    __slots__ = ("sku", "repair")
    SKU_FIELD_NUMBER: _ClassVar[int]
    REPAIR_FIELD_NUMBER: _ClassVar[int]
    sku: str
    repair: bool
    def __init__(self, sku: _Optional[str] = ..., repair: _Optional[bool] = ...) -> None: ...

class ReconcileResponse(_message.Message):
    __slots__ = ("sku", "live_units", "database_units", "in_flight_units", "drift", "repaired")
    SKU_FIELD_NUMBER: _ClassVar[int]
    LIVE_UNITS_FIELD_NUMBER: _ClassVar[int]
    DATABASE_UNITS_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_UNITS_FIELD_NUMBER: _ClassVar[int]
    DRIFT_FIELD_NUMBER: _ClassVar[int]
    REPAIRED_FIELD_NUMBER: _ClassVar[int]
    sku: str
    live_units: int
    database_units: int
    in_flight_units: int
    drift: int
    repaired: bool
    def __init__(self, sku: _Optional[str] = ..., live_units: _Optional[int] = ..., database_units: _Optional[int] = ..., in_flight_units: _Optional[int] = ..., drift: _Optional[int] = ..., repaired: _Optional[bool] = ...) -> None: ...

class WatchSaleStatsRequest(_message.Message):
    __slots__ = ("sku",)
    SKU_FIELD_NUMBER: _ClassVar[int]
    sku: str
    def __init__(self, sku: _Optional[str] = ...) -> None: ...

class WatchSaleStatsResponse(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: SaleLiveStats
    def __init__(self, stats: _Optional[_Union[SaleLiveStats, _Mapping]] = ...) -> None: ...

class SaleLiveStats(_message.Message):
    __slots__ = ("counters", "units_left", "state", "admission_rate", "refusal_rate", "queue_length", "estimated_wait", "outbox_depth", "consumer_lag", "read_at")
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    UNITS_LEFT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ADMISSION_RATE_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_RATE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_WAIT_FIELD_NUMBER: _ClassVar[int]
    OUTBOX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_LAG_FIELD_NUMBER: _ClassVar[int]
    READ_AT_FIELD_NUMBER: _ClassVar[int]
    counters: SaleStats
    units_left: int
    state: _sale_pb2.SaleState
    admission_rate: float
    refusal_rate: float
    queue_length: int
    estimated_wait: _duration_pb2.Duration
    outbox_depth: int
    consumer_lag: int
    read_at: _timestamp_pb2.Timestamp
    def __init__(self, counters: _Optional[_Union[SaleStats, _Mapping]] = ..., units_left: _Optional[int] = ..., state: _Optional[_Union[_sale_pb2.SaleState, str]] = ..., admission_rate: _Optional[float] = ..., refusal_rate: _Optional[float] = ..., queue_length: _Optional[int] = ..., estimated_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., outbox_depth: _Optional[int] = ..., consumer_lag: _Optional[int] = ..., read_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
