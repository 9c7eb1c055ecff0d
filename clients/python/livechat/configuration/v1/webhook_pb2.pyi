from google.protobuf import struct_pb2 as _struct_pb2
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
