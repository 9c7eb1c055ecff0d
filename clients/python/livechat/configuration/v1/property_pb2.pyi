from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeleteGroupPropertiesRequest(_message.Message):
    __slots__ = ["group_id", "properties"]
    class PropertiesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.ListValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ...) -> None: ...
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    properties: _containers.MessageMap[str, _struct_pb2.ListValue]
    def __init__(self, group_id: _Optional[int] = ..., properties: _Optional[_Mapping[str, _struct_pb2.ListValue]] = ...) -> None: ...

class DeleteGroupPropertiesResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class DeleteLicensePropertiesRequest(_message.Message):
    __slots__ = ["properties"]
    class PropertiesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.ListValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ...) -> None: ...
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    properties: _containers.MessageMap[str, _struct_pb2.ListValue]
    def __init__(self, properties: _Optional[_Mapping[str, _struct_pb2.ListValue]] = ...) -> None: ...

class DeleteLicensePropertiesResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListGroupPropertiesRequest(_message.Message):
    __slots__ = ["group_id", "name_prefix", "namespace_prefix"]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    name_prefix: str
    namespace_prefix: str
    def __init__(self, group_id: _Optional[int] = ..., namespace_prefix: _Optional[str] = ..., name_prefix: _Optional[str] = ...) -> None: ...

class ListGroupPropertiesResponse(_message.Message):
    __slots__ = ["properties"]
    class PropertiesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Struct
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    properties: _containers.MessageMap[str, _struct_pb2.Struct]
    def __init__(self, properties: _Optional[_Mapping[str, _struct_pb2.Struct]] = ...) -> None: ...

class ListLicensePropertiesRequest(_message.Message):
    __slots__ = ["name_prefix", "namespace_prefix"]
    NAMESPACE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    name_prefix: str
    namespace_prefix: str
    def __init__(self, namespace_prefix: _Optional[str] = ..., name_prefix: _Optional[str] = ...) -> None: ...

class ListLicensePropertiesResponse(_message.Message):
    __slots__ = ["properties"]
    class PropertiesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Struct
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    properties: _containers.MessageMap[str, _struct_pb2.Struct]
    def __init__(self, properties: _Optional[_Mapping[str, _struct_pb2.Struct]] = ...) -> None: ...

class ListRegisteredPropertiesRequest(_message.Message):
    __slots__ = ["all"]
    ALL_FIELD_NUMBER: _ClassVar[int]
    all: bool
    def __init__(self, all: bool = ...) -> None: ...

class ListRegisteredPropertiesResponse(_message.Message):
    __slots__ = ["properties"]
    class PropertiesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Struct
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    properties: _containers.MessageMap[str, _struct_pb2.Struct]
    def __init__(self, properties: _Optional[_Mapping[str, _struct_pb2.Struct]] = ...) -> None: ...

class PropertyAccess(_message.Message):
    __slots__ = ["read", "write"]
    READ_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    read: bool
    write: bool
    def __init__(self, read: bool = ..., write: bool = ...) -> None: ...

class PropertyDefinition(_message.Message):
    __slots__ = ["description", "domain", "locations", "range", "type"]
    class LocationsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PropertyLocation
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PropertyLocation, _Mapping]] = ...) -> None: ...
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    description: str
    domain: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Value]
    locations: _containers.MessageMap[str, PropertyLocation]
    range: PropertyRange
    type: str
    def __init__(self, type: _Optional[str] = ..., description: _Optional[str] = ..., locations: _Optional[_Mapping[str, PropertyLocation]] = ..., domain: _Optional[_Iterable[_Union[_struct_pb2.Value, _Mapping]]] = ..., range: _Optional[_Union[PropertyRange, _Mapping]] = ...) -> None: ...

class PropertyLocation(_message.Message):
    __slots__ = ["access"]
    class AccessEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PropertyAccess
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PropertyAccess, _Mapping]] = ...) -> None: ...
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    access: _containers.MessageMap[str, PropertyAccess]
    def __init__(self, access: _Optional[_Mapping[str, PropertyAccess]] = ...) -> None: ...

class PropertyRange(_message.Message):
    __slots__ = ["to"]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    to: int
    def __init__(self, to: _Optional[int] = ..., **kwargs) -> None: ...

class RegisterPropertiesRequest(_message.Message):
    __slots__ = ["properties"]
    class PropertiesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PropertyDefinition
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PropertyDefinition, _Mapping]] = ...) -> None: ...
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    properties: _containers.MessageMap[str, PropertyDefinition]
    def __init__(self, properties: _Optional[_Mapping[str, PropertyDefinition]] = ...) -> None: ...

class RegisterPropertiesResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class UpdateGroupPropertiesRequest(_message.Message):
    __slots__ = ["group_id", "properties"]
    class PropertiesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Struct
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    properties: _containers.MessageMap[str, _struct_pb2.Struct]
    def __init__(self, group_id: _Optional[int] = ..., properties: _Optional[_Mapping[str, _struct_pb2.Struct]] = ...) -> None: ...

class UpdateGroupPropertiesResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class UpdateLicensePropertiesRequest(_message.Message):
    __slots__ = ["properties"]
    class PropertiesEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Struct
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    properties: _containers.MessageMap[str, _struct_pb2.Struct]
    def __init__(self, properties: _Optional[_Mapping[str, _struct_pb2.Struct]] = ...) -> None: ...

class UpdateLicensePropertiesResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...
