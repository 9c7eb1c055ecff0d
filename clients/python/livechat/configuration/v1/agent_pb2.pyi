from google.protobuf import field_mask_pb2 as _field_mask_pb2
from livechat.configuration.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Agent(_message.Message):
    __slots__ = ["avatar_path", "awaiting_approval", "email_subscriptions", "groups", "id", "job_title", "login_status", "max_chats_count", "mobile", "name", "notifications", "role", "summaries", "suspended", "work_scheduler"]
    class WorkSchedulerEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.WorkHours
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.WorkHours, _Mapping]] = ...) -> None: ...
    AVATAR_PATH_FIELD_NUMBER: _ClassVar[int]
    AWAITING_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TITLE_FIELD_NUMBER: _ClassVar[int]
    LOGIN_STATUS_FIELD_NUMBER: _ClassVar[int]
    MAX_CHATS_COUNT_FIELD_NUMBER: _ClassVar[int]
    MOBILE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SUMMARIES_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    WORK_SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    avatar_path: str
    awaiting_approval: bool
    email_subscriptions: _containers.RepeatedScalarFieldContainer[str]
    groups: _containers.RepeatedCompositeFieldContainer[_common_pb2.GroupMembership]
    id: str
    job_title: str
    login_status: str
    max_chats_count: int
    mobile: str
    name: str
    notifications: _containers.RepeatedScalarFieldContainer[str]
    role: str
    summaries: _containers.RepeatedScalarFieldContainer[str]
    suspended: bool
    work_scheduler: _containers.MessageMap[str, _common_pb2.WorkHours]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[str] = ..., avatar_path: _Optional[str] = ..., login_status: _Optional[str] = ..., job_title: _Optional[str] = ..., mobile: _Optional[str] = ..., max_chats_count: _Optional[int] = ..., groups: _Optional[_Iterable[_Union[_common_pb2.GroupMembership, _Mapping]]] = ..., notifications: _Optional[_Iterable[str]] = ..., email_subscriptions: _Optional[_Iterable[str]] = ..., summaries: _Optional[_Iterable[str]] = ..., work_scheduler: _Optional[_Mapping[str, _common_pb2.WorkHours]] = ..., suspended: bool = ..., awaiting_approval: bool = ...) -> None: ...

class ApproveAgentRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ApproveAgentResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class CreateAgentRequest(_message.Message):
    __slots__ = ["avatar_path", "awaiting_approval", "email_subscriptions", "groups", "id", "job_title", "login_status", "max_chats_count", "mobile", "name", "notifications", "role", "work_scheduler"]
    class WorkSchedulerEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.WorkHours
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.WorkHours, _Mapping]] = ...) -> None: ...
    AVATAR_PATH_FIELD_NUMBER: _ClassVar[int]
    AWAITING_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TITLE_FIELD_NUMBER: _ClassVar[int]
    LOGIN_STATUS_FIELD_NUMBER: _ClassVar[int]
    MAX_CHATS_COUNT_FIELD_NUMBER: _ClassVar[int]
    MOBILE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    WORK_SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    avatar_path: str
    awaiting_approval: bool
    email_subscriptions: _containers.RepeatedScalarFieldContainer[str]
    groups: _containers.RepeatedCompositeFieldContainer[_common_pb2.GroupMembership]
    id: str
    job_title: str
    login_status: str
    max_chats_count: int
    mobile: str
    name: str
    notifications: _containers.RepeatedScalarFieldContainer[str]
    role: str
    work_scheduler: _containers.MessageMap[str, _common_pb2.WorkHours]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[str] = ..., avatar_path: _Optional[str] = ..., login_status: _Optional[str] = ..., job_title: _Optional[str] = ..., mobile: _Optional[str] = ..., max_chats_count: _Optional[int] = ..., awaiting_approval: bool = ..., groups: _Optional[_Iterable[_Union[_common_pb2.GroupMembership, _Mapping]]] = ..., notifications: _Optional[_Iterable[str]] = ..., email_subscriptions: _Optional[_Iterable[str]] = ..., work_scheduler: _Optional[_Mapping[str, _common_pb2.WorkHours]] = ...) -> None: ...

class CreateAgentResponse(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteAgentRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteAgentResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ["fields", "id"]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedScalarFieldContainer[str]
    id: str
    def __init__(self, id: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ...) -> None: ...

class GetAgentResponse(_message.Message):
    __slots__ = ["agent"]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ["fields", "filters"]
    class Filters(_message.Message):
        __slots__ = ["group_ids"]
        GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
        group_ids: _containers.RepeatedScalarFieldContainer[int]
        def __init__(self, group_ids: _Optional[_Iterable[int]] = ...) -> None: ...
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedScalarFieldContainer[str]
    filters: ListAgentsRequest.Filters
    def __init__(self, filters: _Optional[_Union[ListAgentsRequest.Filters, _Mapping]] = ..., fields: _Optional[_Iterable[str]] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ["agents"]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ...) -> None: ...

class RequestAgentUnsuspensionRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class RequestAgentUnsuspensionResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class SuspendAgentRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class SuspendAgentResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class UnsuspendAgentRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class UnsuspendAgentResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class UpdateAgentRequest(_message.Message):
    __slots__ = ["avatar_path", "email_subscriptions", "groups", "id", "job_title", "login_status", "max_chats_count", "mobile", "name", "notifications", "role", "update_mask", "work_scheduler"]
    class WorkSchedulerEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.WorkHours
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.WorkHours, _Mapping]] = ...) -> None: ...
    AVATAR_PATH_FIELD_NUMBER: _ClassVar[int]
    EMAIL_SUBSCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TITLE_FIELD_NUMBER: _ClassVar[int]
    LOGIN_STATUS_FIELD_NUMBER: _ClassVar[int]
    MAX_CHATS_COUNT_FIELD_NUMBER: _ClassVar[int]
    MOBILE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    WORK_SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    avatar_path: str
    email_subscriptions: _containers.RepeatedScalarFieldContainer[str]
    groups: _containers.RepeatedCompositeFieldContainer[_common_pb2.GroupMembership]
    id: str
    job_title: str
    login_status: str
    max_chats_count: int
    mobile: str
    name: str
    notifications: _containers.RepeatedScalarFieldContainer[str]
    role: str
    update_mask: _field_mask_pb2.FieldMask
    work_scheduler: _containers.MessageMap[str, _common_pb2.WorkHours]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[str] = ..., avatar_path: _Optional[str] = ..., login_status: _Optional[str] = ..., job_title: _Optional[str] = ..., mobile: _Optional[str] = ..., max_chats_count: _Optional[int] = ..., groups: _Optional[_Iterable[_Union[_common_pb2.GroupMembership, _Mapping]]] = ..., notifications: _Optional[_Iterable[str]] = ..., email_subscriptions: _Optional[_Iterable[str]] = ..., work_scheduler: _Optional[_Mapping[str, _common_pb2.WorkHours]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateAgentResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...
