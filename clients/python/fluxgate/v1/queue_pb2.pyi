import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TicketState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_STATE_UNSPECIFIED: _ClassVar[TicketState]
    TICKET_STATE_WAITING: _ClassVar[TicketState]
    TICKET_STATE_CALLED: _ClassVar[TicketState]
    TICKET_STATE_EXPIRED: _ClassVar[TicketState]
    TICKET_STATE_USED: _ClassVar[TicketState]
    TICKET_STATE_SOLD_OUT: _ClassVar[TicketState]
    TICKET_STATE_SALE_ENDED: _ClassVar[TicketState]
TICKET_STATE_UNSPECIFIED: TicketState
TICKET_STATE_WAITING: TicketState
TICKET_STATE_CALLED: TicketState
TICKET_STATE_EXPIRED: TicketState
TICKET_STATE_USED: TicketState
TICKET_STATE_SOLD_OUT: TicketState
TICKET_STATE_SALE_ENDED: TicketState

class TicketStatus(_message.Message):
    __slots__ = ("sku", "state", "number", "position", "now_serving", "people_ahead", "estimated_wait", "admission_rate", "called_until")
    SKU_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    NOW_SERVING_FIELD_NUMBER: _ClassVar[int]
    PEOPLE_AHEAD_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_WAIT_FIELD_NUMBER: _ClassVar[int]
    ADMISSION_RATE_FIELD_NUMBER: _ClassVar[int]
    CALLED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    sku: str
    state: TicketState
    number: int
    position: int
    now_serving: int
    people_ahead: int
    estimated_wait: _duration_pb2.Duration
    admission_rate: float
    called_until: _timestamp_pb2.Timestamp
    def __init__(self, sku: _Optional[str] = ..., state: _Optional[_Union[TicketState, str]] = ..., number: _Optional[int] = ..., position: _Optional[int] = ..., now_serving: _Optional[int] = ..., people_ahead: _Optional[int] = ..., estimated_wait: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., admission_rate: _Optional[float] = ..., called_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CheckTicketRequest(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: str
    def __init__(self, ticket: _Optional[str] = ...) -> None: ...

class CheckTicketResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: TicketStatus
    def __init__(self, status: _Optional[_Union[TicketStatus, _Mapping]] = ...) -> None: ...

class WatchTicketRequest(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: str
    def __init__(self, ticket: _Optional[str] = ...) -> None: ...

class WatchTicketResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: TicketStatus
    def __init__(self, status: _Optional[_Union[TicketStatus, _Mapping]] = ...) -> None: ...

class GetDrawRequest(_message.Message):
    __slots__ = ("sku",)
    SKU_FIELD_NUMBER: _ClassVar[int]
    sku: str
    def __init__(self, sku: _Optional[str] = ...) -> None: ...

class GetDrawResponse(_message.Message):
    __slots__ = ("lottery", "seed_sha256", "seed", "entrants")
    LOTTERY_FIELD_NUMBER: _ClassVar[int]
    SEED_SHA256_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    ENTRANTS_FIELD_NUMBER: _ClassVar[int]
    lottery: bool
    seed_sha256: str
    seed: str
    entrants: int
    def __init__(self, lottery: _Optional[bool] = ..., seed_sha256: _Optional[str] = ..., seed: _Optional[str] = ..., entrants: _Optional[int] = ...) -> None: ...
