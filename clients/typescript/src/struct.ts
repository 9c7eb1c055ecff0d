import { fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import {
  ListValueSchema,
  StructSchema,
  ValueSchema,
  type ListValue,
  type Struct,
  type Value,
} from "@bufbuild/protobuf/wkt";

// protobuf-es already gives google.protobuf.Struct fields as plain objects (JsonObject), such as
// the properties of UpdateLicensePropertiesRequest. These helpers cover the rest: Value and
// ListValue messages (PropertyDefinition.domain, Delete*PropertiesRequest.properties), and
// checking a plain object before it is sent.

/**
 * checkJson returns value if JSON can carry it as it is, and throws a TypeError naming the first
 * part that it cannot: undefined, a function, a symbol, a bigint, NaN or an infinity, or an object
 * that is not plain (a Date, a Map, a class instance). Struct and Value hold JSON only, so such a
 * part would be dropped or changed on the way; a write should fail here instead.
 */
export function checkJson(value: unknown, path = "value"): JsonValue {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} cannot be sent in a google.protobuf.Value`);
    return value;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkJson(v, `${path}[${i}]`));
    return value as JsonValue;
  }
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`${path}: a ${proto?.constructor?.name ?? "non-plain"} object cannot be sent in a google.protobuf.Struct; pass a plain object`);
    }
    for (const [k, v] of Object.entries(value)) checkJson(v, `${path}.${k}`);
    return value as JsonObject;
  }
  throw new TypeError(`${path}: a ${typeof value} cannot be sent in a google.protobuf.Value`);
}

/** checkJsonObject is checkJson for a Struct: value must be a plain object. */
export function checkJsonObject(value: unknown, path = "value"): JsonObject {
  const json = checkJson(value, path);
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new TypeError(`${path}: a google.protobuf.Struct is a plain object, not ${Array.isArray(json) ? "an array" : typeof json}`);
  }
  return json;
}

/** toValue turns JSON into a google.protobuf.Value, checked by checkJson. */
export function toValue(value: unknown): Value {
  return fromJson(ValueSchema, checkJson(value));
}

/** fromValue turns a google.protobuf.Value into JSON. Numbers are doubles, as in JSON. */
export function fromValue(value: Value): JsonValue {
  return toJson(ValueSchema, value);
}

/** toListValue turns an array into a google.protobuf.ListValue, checked by checkJson. */
export function toListValue(values: unknown[]): ListValue {
  return fromJson(ListValueSchema, checkJson(values));
}

/** fromListValue turns a google.protobuf.ListValue into an array. */
export function fromListValue(list: ListValue): JsonValue[] {
  return toJson(ListValueSchema, list) as JsonValue[];
}

/** toStruct turns a plain object into a google.protobuf.Struct message, checked by checkJson. */
export function toStruct(object: unknown): Struct {
  return fromJson(StructSchema, checkJsonObject(object));
}

/** fromStruct turns a google.protobuf.Struct message into a plain object. */
export function fromStruct(struct: Struct): JsonObject {
  return toJson(StructSchema, struct) as JsonObject;
}
