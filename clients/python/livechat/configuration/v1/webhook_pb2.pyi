from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChatMemberIds(_message.Message):
    __slots__ = ["agents_any", "agents_exclude"]
    AGENTS_ANY_FIELD_NUMBER: _ClassVar[int]
    AGENTS_EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    agents_any: _containers.RepeatedScalarFieldContainer[str]
    agents_exclude: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, agents_any: _Optional[_Iterable[str]] = ..., agents_exclude: _Optional[_Iterable[str]] = ...) -> None: ...

class ListRegisteredWebhooksRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListRegisteredWebhooksResponse(_message.Message):
    __slots__ = ["webhooks"]
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    webhooks: _containers.RepeatedCompositeFieldContainer[Webhook]
    def __init__(self, webhooks: _Optional[_Iterable[_Union[Webhook, _Mapping]]] = ...) -> None: ...

class RegisterWebhookRequest(_message.Message):
    __slots__ = ["action", "additional_data", "description", "filters", "secret_key", "url"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_DATA_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    SECRET_KEY_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    action: str
    additional_data: _containers.RepeatedScalarFieldContainer[str]
    description: str
    filters: WebhookFilters
    secret_key: str
    url: str
    def __init__(self, action: _Optional[str] = ..., secret_key: _Optional[str] = ..., url: _Optional[str] = ..., additional_data: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., filters: _Optional[_Union[WebhookFilters, _Mapping]] = ...) -> None: ...

class RegisterWebhookResponse(_message.Message):
    __slots__ = ["webhook_id"]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_id: str
    def __init__(self, webhook_id: _Optional[str] = ...) -> None: ...

class SubscribeWebhooksRequest(_message.Message):
    __slots__ = ["actions", "after", "license_id", "webhook_ids"]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LICENSE_ID_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_IDS_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedScalarFieldContainer[str]
    after: str
    license_id: str
    webhook_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, license_id: _Optional[str] = ..., actions: _Optional[_Iterable[str]] = ..., webhook_ids: _Optional[_Iterable[str]] = ..., after: _Optional[str] = ...) -> None: ...

class SubscribeWebhooksResponse(_message.Message):
    __slots__ = ["event", "heartbeat"]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    event: WebhookEvent
    heartbeat: WebhookHeartbeat
    def __init__(self, event: _Optional[_Union[WebhookEvent, _Mapping]] = ..., heartbeat: _Optional[_Union[WebhookHeartbeat, _Mapping]] = ...) -> None: ...

class UnregisterWebhookRequest(_message.Message):
    __slots__ = ["webhook_id"]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_id: str
    def __init__(self, webhook_id: _Optional[str] = ...) -> None: ...

class UnregisterWebhookResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class Webhook(_message.Message):
    __slots__ = ["action", "additional_data", "description", "filters", "owner_client_id", "secret_key", "url", "webhook_id"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_DATA_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    OWNER_CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_KEY_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    action: str
    additional_data: _containers.RepeatedScalarFieldContainer[str]
    description: str
    filters: WebhookFilters
    owner_client_id: str
    secret_key: str
    url: str
    webhook_id: str
    def __init__(self, webhook_id: _Optional[str] = ..., url: _Optional[str] = ..., description: _Optional[str] = ..., action: _Optional[str] = ..., secret_key: _Optional[str] = ..., filters: _Optional[_Union[WebhookFilters, _Mapping]] = ..., additional_data: _Optional[_Iterable[str]] = ..., owner_client_id: _Optional[str] = ...) -> None: ...

class WebhookEvent(_message.Message):
    __slots__ = ["action", "additional_data", "id", "license_id", "payload", "received_at", "webhook_id"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_DATA_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LICENSE_ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    action: str
    additional_data: _struct_pb2.Struct
    id: str
    license_id: str
    payload: _struct_pb2.Struct
    received_at: _timestamp_pb2.Timestamp
    webhook_id: str
    def __init__(self, id: _Optional[str] = ..., received_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., webhook_id: _Optional[str] = ..., action: _Optional[str] = ..., license_id: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., additional_data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class WebhookFilters(_message.Message):
    __slots__ = ["agent_ids", "author_type", "chat_member_ids", "chat_properties", "only_my_chats"]
    AGENT_IDS_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHAT_MEMBER_IDS_FIELD_NUMBER: _ClassVar[int]
    CHAT_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    ONLY_MY_CHATS_FIELD_NUMBER: _ClassVar[int]
    agent_ids: _containers.RepeatedScalarFieldContainer[str]
    author_type: str
    chat_member_ids: ChatMemberIds
    chat_properties: _struct_pb2.Struct
    only_my_chats: bool
    def __init__(self, author_type: _Optional[str] = ..., only_my_chats: bool = ..., chat_member_ids: _Optional[_Union[ChatMemberIds, _Mapping]] = ..., chat_properties: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., agent_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class WebhookHeartbeat(_message.Message):
    __slots__ = ["after"]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    after: str
    def __init__(self, after: _Optional[str] = ...) -> None: ...
