import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from plotboss.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DriveState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DRIVE_STATE_UNSPECIFIED: _ClassVar[DriveState]
    DRIVE_STATE_OK: _ClassVar[DriveState]
    DRIVE_STATE_FULL: _ClassVar[DriveState]
    DRIVE_STATE_MISSING: _ClassVar[DriveState]
    DRIVE_STATE_READ_ONLY: _ClassVar[DriveState]
    DRIVE_STATE_ERROR: _ClassVar[DriveState]
DRIVE_STATE_UNSPECIFIED: DriveState
DRIVE_STATE_OK: DriveState
DRIVE_STATE_FULL: DriveState
DRIVE_STATE_MISSING: DriveState
DRIVE_STATE_READ_ONLY: DriveState
DRIVE_STATE_ERROR: DriveState

class Drive(_message.Message):
    __slots__ = ("path", "total_bytes", "free_bytes", "reserved_bytes", "plot_count", "plot_bytes", "state", "error", "writers", "rsync_url", "probe_time", "min_free_bytes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESERVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    PLOT_COUNT_FIELD_NUMBER: _ClassVar[int]
    PLOT_BYTES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WRITERS_FIELD_NUMBER: _ClassVar[int]
    RSYNC_URL_FIELD_NUMBER: _ClassVar[int]
    PROBE_TIME_FIELD_NUMBER: _ClassVar[int]
    MIN_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    path: str
    total_bytes: int
    free_bytes: int
    reserved_bytes: int
    plot_count: int
    plot_bytes: int
    state: DriveState
    error: str
    writers: int
    rsync_url: str
    probe_time: _timestamp_pb2.Timestamp
    min_free_bytes: int
    def __init__(self, path: _Optional[str] = ..., total_bytes: _Optional[int] = ..., free_bytes: _Optional[int] = ..., reserved_bytes: _Optional[int] = ..., plot_count: _Optional[int] = ..., plot_bytes: _Optional[int] = ..., state: _Optional[_Union[DriveState, str]] = ..., error: _Optional[str] = ..., writers: _Optional[int] = ..., rsync_url: _Optional[str] = ..., probe_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., min_free_bytes: _Optional[int] = ...) -> None: ...

class ListDrivesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDrivesResponse(_message.Message):
    __slots__ = ("agent", "drives")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    DRIVES_FIELD_NUMBER: _ClassVar[int]
    agent: _common_pb2.AgentInfo
    drives: _containers.RepeatedCompositeFieldContainer[Drive]
    def __init__(self, agent: _Optional[_Union[_common_pb2.AgentInfo, _Mapping]] = ..., drives: _Optional[_Iterable[_Union[Drive, _Mapping]]] = ...) -> None: ...

class Reservation(_message.Message):
    __slots__ = ("id", "plot_name", "size_bytes", "requester", "drive_path", "rsync_url", "create_time", "expire_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    PLOT_NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    DRIVE_PATH_FIELD_NUMBER: _ClassVar[int]
    RSYNC_URL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    plot_name: str
    size_bytes: int
    requester: str
    drive_path: str
    rsync_url: str
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., plot_name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., requester: _Optional[str] = ..., drive_path: _Optional[str] = ..., rsync_url: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReserveRequest(_message.Message):
    __slots__ = ("plot_name", "size_bytes", "requester", "avoid_drives")
    PLOT_NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    AVOID_DRIVES_FIELD_NUMBER: _ClassVar[int]
    plot_name: str
    size_bytes: int
    requester: str
    avoid_drives: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, plot_name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., requester: _Optional[str] = ..., avoid_drives: _Optional[_Iterable[str]] = ...) -> None: ...

class ReserveResponse(_message.Message):
    __slots__ = ("reservation", "rsync_user")
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    RSYNC_USER_FIELD_NUMBER: _ClassVar[int]
    reservation: Reservation
    rsync_user: str
    def __init__(self, reservation: _Optional[_Union[Reservation, _Mapping]] = ..., rsync_user: _Optional[str] = ...) -> None: ...

class RenewRequest(_message.Message):
    __slots__ = ("reservation_id",)
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    def __init__(self, reservation_id: _Optional[str] = ...) -> None: ...

class RenewResponse(_message.Message):
    __slots__ = ("reservation",)
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    reservation: Reservation
    def __init__(self, reservation: _Optional[_Union[Reservation, _Mapping]] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("reservation_id",)
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    def __init__(self, reservation_id: _Optional[str] = ...) -> None: ...

class CompleteResponse(_message.Message):
    __slots__ = ("plot_path", "size_bytes")
    PLOT_PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    plot_path: str
    size_bytes: int
    def __init__(self, plot_path: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("reservation_id",)
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    def __init__(self, reservation_id: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ("removed_files",)
    REMOVED_FILES_FIELD_NUMBER: _ClassVar[int]
    removed_files: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, removed_files: _Optional[_Iterable[str]] = ...) -> None: ...

class ListReservationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListReservationsResponse(_message.Message):
    __slots__ = ("agent", "reservations")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    RESERVATIONS_FIELD_NUMBER: _ClassVar[int]
    agent: _common_pb2.AgentInfo
    reservations: _containers.RepeatedCompositeFieldContainer[Reservation]
    def __init__(self, agent: _Optional[_Union[_common_pb2.AgentInfo, _Mapping]] = ..., reservations: _Optional[_Iterable[_Union[Reservation, _Mapping]]] = ...) -> None: ...

class ConfirmPlotRequest(_message.Message):
    __slots__ = ("plot_name", "size_bytes")
    PLOT_NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    plot_name: str
    size_bytes: int
    def __init__(self, plot_name: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class ConfirmPlotResponse(_message.Message):
    __slots__ = ("plot_path", "size_bytes")
    PLOT_PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    plot_path: str
    size_bytes: int
    def __init__(self, plot_path: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...
