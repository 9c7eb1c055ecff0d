from google.protobuf import field_mask_pb2 as _field_mask_pb2
from livechat.configuration.v1 import common_pb2 as _common_pb2
from livechat.configuration.v1 import webhook_pb2 as _webhook_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Bot(_message.Message):
    __slots__ = ["application", "avatar", "default_group_priority", "groups", "id", "job_title", "max_chats_count", "name", "status", "webhooks", "work_scheduler"]
    class WorkSchedulerEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.WorkHours
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.WorkHours, _Mapping]] = ...) -> None: ...
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    AVATAR_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_GROUP_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TITLE_FIELD_NUMBER: _ClassVar[int]
    MAX_CHATS_COUNT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    WORK_SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    application: BotApplication
    avatar: str
    default_group_priority: str
    groups: _containers.RepeatedCompositeFieldContainer[_common_pb2.GroupMembership]
    id: str
    job_title: str
    max_chats_count: int
    name: str
    status: str
    webhooks: BotWebhooks
    work_scheduler: _containers.MessageMap[str, _common_pb2.WorkHours]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., avatar: _Optional[str] = ..., status: _Optional[str] = ..., application: _Optional[_Union[BotApplication, _Mapping]] = ..., max_chats_count: _Optional[int] = ..., groups: _Optional[_Iterable[_Union[_common_pb2.GroupMembership, _Mapping]]] = ..., webhooks: _Optional[_Union[BotWebhooks, _Mapping]] = ..., default_group_priority: _Optional[str] = ..., job_title: _Optional[str] = ..., work_scheduler: _Optional[_Mapping[str, _common_pb2.WorkHours]] = ...) -> None: ...

class BotApplication(_message.Message):
    __slots__ = ["client_id"]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    def __init__(self, client_id: _Optional[str] = ...) -> None: ...

class BotWebhookAction(_message.Message):
    __slots__ = ["additional_data", "filters", "name"]
    ADDITIONAL_DATA_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    additional_data: _containers.RepeatedScalarFieldContainer[str]
    filters: _webhook_pb2.WebhookFilters
    name: str
    def __init__(self, name: _Optional[str] = ..., filters: _Optional[_Union[_webhook_pb2.WebhookFilters, _Mapping]] = ..., additional_data: _Optional[_Iterable[str]] = ...) -> None: ...

class BotWebhooks(_message.Message):
    __slots__ = ["actions", "secret_key", "url"]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    SECRET_KEY_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedCompositeFieldContainer[BotWebhookAction]
    secret_key: str
    url: str
    def __init__(self, url: _Optional[str] = ..., secret_key: _Optional[str] = ..., actions: _Optional[_Iterable[_Union[BotWebhookAction, _Mapping]]] = ...) -> None: ...

class CreateBotRequest(_message.Message):
    __slots__ = ["avatar", "default_group_priority", "groups", "job_title", "max_chats_count", "name", "webhooks", "work_scheduler"]
    class WorkSchedulerEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.WorkHours
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.WorkHours, _Mapping]] = ...) -> None: ...
    AVATAR_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_GROUP_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    JOB_TITLE_FIELD_NUMBER: _ClassVar[int]
    MAX_CHATS_COUNT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    WORK_SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    avatar: str
    default_group_priority: str
    groups: _containers.RepeatedCompositeFieldContainer[_common_pb2.GroupMembership]
    job_title: str
    max_chats_count: int
    name: str
    webhooks: BotWebhooks
    work_scheduler: _containers.MessageMap[str, _common_pb2.WorkHours]
    def __init__(self, name: _Optional[str] = ..., avatar: _Optional[str] = ..., max_chats_count: _Optional[int] = ..., default_group_priority: _Optional[str] = ..., job_title: _Optional[str] = ..., groups: _Optional[_Iterable[_Union[_common_pb2.GroupMembership, _Mapping]]] = ..., webhooks: _Optional[_Union[BotWebhooks, _Mapping]] = ..., work_scheduler: _Optional[_Mapping[str, _common_pb2.WorkHours]] = ...) -> None: ...

class CreateBotResponse(_message.Message):
    __slots__ = ["bot_agent_id"]
    BOT_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    bot_agent_id: str
    def __init__(self, bot_agent_id: _Optional[str] = ...) -> None: ...

class DeleteBotRequest(_message.Message):
    __slots__ = ["bot_agent_id"]
    BOT_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    bot_agent_id: str
    def __init__(self, bot_agent_id: _Optional[str] = ...) -> None: ...

class DeleteBotResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class GetBotRequest(_message.Message):
    __slots__ = ["bot_agent_id"]
    BOT_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    bot_agent_id: str
    def __init__(self, bot_agent_id: _Optional[str] = ...) -> None: ...

class GetBotResponse(_message.Message):
    __slots__ = ["bot_agent"]
    BOT_AGENT_FIELD_NUMBER: _ClassVar[int]
    bot_agent: Bot
    def __init__(self, bot_agent: _Optional[_Union[Bot, _Mapping]] = ...) -> None: ...

class ListBotsRequest(_message.Message):
    __slots__ = ["all"]
    ALL_FIELD_NUMBER: _ClassVar[int]
    all: bool
    def __init__(self, all: bool = ...) -> None: ...

class ListBotsResponse(_message.Message):
    __slots__ = ["bot_agents"]
    BOT_AGENTS_FIELD_NUMBER: _ClassVar[int]
    bot_agents: _containers.RepeatedCompositeFieldContainer[Bot]
    def __init__(self, bot_agents: _Optional[_Iterable[_Union[Bot, _Mapping]]] = ...) -> None: ...

class UpdateBotRequest(_message.Message):
    __slots__ = ["avatar", "default_group_priority", "groups", "id", "max_chats_count", "name", "update_mask", "webhooks", "work_scheduler"]
    class WorkSchedulerEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.WorkHours
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.WorkHours, _Mapping]] = ...) -> None: ...
    AVATAR_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_GROUP_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    MAX_CHATS_COUNT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    WORK_SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    avatar: str
    default_group_priority: str
    groups: _containers.RepeatedCompositeFieldContainer[_common_pb2.GroupMembership]
    id: str
    max_chats_count: int
    name: str
    update_mask: _field_mask_pb2.FieldMask
    webhooks: BotWebhooks
    work_scheduler: _containers.MessageMap[str, _common_pb2.WorkHours]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., avatar: _Optional[str] = ..., max_chats_count: _Optional[int] = ..., groups: _Optional[_Iterable[_Union[_common_pb2.GroupMembership, _Mapping]]] = ..., default_group_priority: _Optional[str] = ..., webhooks: _Optional[_Union[BotWebhooks, _Mapping]] = ..., work_scheduler: _Optional[_Mapping[str, _common_pb2.WorkHours]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateBotResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...
