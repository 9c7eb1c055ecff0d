import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { FieldMaskSchema, type FieldMask } from "@bufbuild/protobuf/wkt";

/**
 * updateMask returns the update_mask that names the fields set in init (a value other than
 * undefined), by their proto names: protobuf-es fields are camelCase (agentPriorities) but the
 * mask's paths are the proto's snake_case names (agent_priorities). An empty list or map in init
 * is named too, which is how an update clears it: without a mask, proto3 cannot tell an empty
 * list from one that was not set, and the gateway leaves it as it is.
 */
export function updateMask<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): FieldMask {
  const paths: string[] = [];
  for (const [key, value] of Object.entries(init as object)) {
    if (value === undefined || key === "$typeName" || key === "updateMask") continue;
    const field = schema.fields.find((f) => f.localName === key);
    if (!field) throw new TypeError(`${schema.typeName} has no field ${key}`);
    paths.push(field.name);
  }
  return create(FieldMaskSchema, { paths });
}

/** updateRequest creates an update request whose update_mask names exactly the fields in init. */
export function updateRequest<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): MessageShape<Desc> {
  return create(schema, { ...(init as object), updateMask: updateMask(schema, init) } as unknown as MessageInitShape<Desc>);
}
