import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SaleState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SALE_STATE_UNSPECIFIED: _ClassVar[SaleState]
    SALE_STATE_SCHEDULED: _ClassVar[SaleState]
    SALE_STATE_OPEN: _ClassVar[SaleState]
    SALE_STATE_PAUSED: _ClassVar[SaleState]
    SALE_STATE_SOLD_OUT: _ClassVar[SaleState]
    SALE_STATE_ENDED: _ClassVar[SaleState]
SALE_STATE_UNSPECIFIED: SaleState
SALE_STATE_SCHEDULED: SaleState
SALE_STATE_OPEN: SaleState
SALE_STATE_PAUSED: SaleState
SALE_STATE_SOLD_OUT: SaleState
SALE_STATE_ENDED: SaleState

class Sale(_message.Message):
    __slots__ = ("sku", "name", "total_stock", "per_customer_limit", "starts_at", "ends_at", "admission_rate", "admission_burst", "paused", "pre_queue_lottery")
    SKU_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STOCK_FIELD_NUMBER: _ClassVar[int]
    PER_CUSTOMER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    STARTS_AT_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    ADMISSION_RATE_FIELD_NUMBER: _ClassVar[int]
    ADMISSION_BURST_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    PRE_QUEUE_LOTTERY_FIELD_NUMBER: _ClassVar[int]
    sku: str
    name: str
    total_stock: int
    per_customer_limit: int
    starts_at: _timestamp_pb2.Timestamp
    ends_at: _timestamp_pb2.Timestamp
    admission_rate: int
    admission_burst: int
    paused: bool
    pre_queue_lottery: bool
    def __init__(self, sku: _Optional[str] = ..., name: _Optional[str] = ..., total_stock: _Optional[int] = ..., per_customer_limit: _Optional[int] = ..., starts_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., admission_rate: _Optional[int] = ..., admission_burst: _Optional[int] = ..., paused: _Optional[bool] = ..., pre_queue_lottery: _Optional[bool] = ...) -> None: ...

class Stock(_message.Message):
    __slots__ = ("sku", "units_left", "total_stock", "state", "starts_at", "ends_at")
    SKU_FIELD_NUMBER: _ClassVar[int]
    UNITS_LEFT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STOCK_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STARTS_AT_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    sku: str
    units_left: int
    total_stock: int
    state: SaleState
    starts_at: _timestamp_pb2.Timestamp
    ends_at: _timestamp_pb2.Timestamp
    def __init__(self, sku: _Optional[str] = ..., units_left: _Optional[int] = ..., total_stock: _Optional[int] = ..., state: _Optional[_Union[SaleState, str]] = ..., starts_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
