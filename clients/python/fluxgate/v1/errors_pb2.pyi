import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RefusalReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFUSAL_REASON_UNSPECIFIED: _ClassVar[RefusalReason]
    REFUSAL_REASON_RATE_LIMITED: _ClassVar[RefusalReason]
    REFUSAL_REASON_SOLD_OUT: _ClassVar[RefusalReason]
    REFUSAL_REASON_PURCHASE_LIMIT_REACHED: _ClassVar[RefusalReason]
    REFUSAL_REASON_SALE_NOT_OPEN: _ClassVar[RefusalReason]
    REFUSAL_REASON_SALE_PAUSED: _ClassVar[RefusalReason]
    REFUSAL_REASON_SALE_ENDED: _ClassVar[RefusalReason]
    REFUSAL_REASON_SALE_NOT_FOUND: _ClassVar[RefusalReason]
    REFUSAL_REASON_ORDER_NOT_FOUND: _ClassVar[RefusalReason]
    REFUSAL_REASON_INVALID_ARGUMENT: _ClassVar[RefusalReason]
    REFUSAL_REASON_IDEMPOTENCY_KEY_REUSED: _ClassVar[RefusalReason]
    REFUSAL_REASON_IDEMPOTENCY_KEY_IN_FLIGHT: _ClassVar[RefusalReason]
    REFUSAL_REASON_DEPENDENCY_UNAVAILABLE: _ClassVar[RefusalReason]
    REFUSAL_REASON_UNAUTHENTICATED: _ClassVar[RefusalReason]
    REFUSAL_REASON_INSUFFICIENT_STOCK: _ClassVar[RefusalReason]
    REFUSAL_REASON_OUTCOME_UNKNOWN: _ClassVar[RefusalReason]
    REFUSAL_REASON_SALE_STATE_RELOADING: _ClassVar[RefusalReason]
    REFUSAL_REASON_CUSTOMER_MISMATCH: _ClassVar[RefusalReason]
    REFUSAL_REASON_GATE_OVERLOADED: _ClassVar[RefusalReason]
    REFUSAL_REASON_TICKET_INVALID: _ClassVar[RefusalReason]
    REFUSAL_REASON_TICKET_NOT_YOURS: _ClassVar[RefusalReason]
    REFUSAL_REASON_TICKET_EXPIRED: _ClassVar[RefusalReason]
    REFUSAL_REASON_TICKET_USED: _ClassVar[RefusalReason]
REFUSAL_REASON_UNSPECIFIED: RefusalReason
REFUSAL_REASON_RATE_LIMITED: RefusalReason
REFUSAL_REASON_SOLD_OUT: RefusalReason
REFUSAL_REASON_PURCHASE_LIMIT_REACHED: RefusalReason
REFUSAL_REASON_SALE_NOT_OPEN: RefusalReason
REFUSAL_REASON_SALE_PAUSED: RefusalReason
REFUSAL_REASON_SALE_ENDED: RefusalReason
REFUSAL_REASON_SALE_NOT_FOUND: RefusalReason
REFUSAL_REASON_ORDER_NOT_FOUND: RefusalReason
REFUSAL_REASON_INVALID_ARGUMENT: RefusalReason
REFUSAL_REASON_IDEMPOTENCY_KEY_REUSED: RefusalReason
REFUSAL_REASON_IDEMPOTENCY_KEY_IN_FLIGHT: RefusalReason
REFUSAL_REASON_DEPENDENCY_UNAVAILABLE: RefusalReason
REFUSAL_REASON_UNAUTHENTICATED: RefusalReason
REFUSAL_REASON_INSUFFICIENT_STOCK: RefusalReason
REFUSAL_REASON_OUTCOME_UNKNOWN: RefusalReason
REFUSAL_REASON_SALE_STATE_RELOADING: RefusalReason
REFUSAL_REASON_CUSTOMER_MISMATCH: RefusalReason
REFUSAL_REASON_GATE_OVERLOADED: RefusalReason
REFUSAL_REASON_TICKET_INVALID: RefusalReason
REFUSAL_REASON_TICKET_NOT_YOURS: RefusalReason
REFUSAL_REASON_TICKET_EXPIRED: RefusalReason
REFUSAL_REASON_TICKET_USED: RefusalReason

class WaitingRoomTicket(_message.Message):
    __slots__ = ("ticket_id", "sku", "retry_at", "token", "number", "issued_at")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    sku: str
    retry_at: _timestamp_pb2.Timestamp
    token: str
    number: int
    issued_at: _timestamp_pb2.Timestamp
    def __init__(self, ticket_id: _Optional[str] = ..., sku: _Optional[str] = ..., retry_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., token: _Optional[str] = ..., number: _Optional[int] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
