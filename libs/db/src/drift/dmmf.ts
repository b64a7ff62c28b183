// The expected database, read from schema.prisma with Prisma's own wasm schema parser.
import { get_dmmf } from '@prisma/prisma-schema-wasm';

export interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'object' | 'enum' | 'unsupported';
  isList: boolean;
  isRequired: boolean;
  isId: boolean;
  hasDefaultValue: boolean;
  type: string;
  nativeType?: [string, string[]] | null;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
}

export interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
  primaryKey: { fields: string[] } | null;
}

export interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: { name: string; dbName: string | null }[];
}

export interface DmmfIndex {
  model: string;
  type: 'id' | 'normal' | 'unique' | 'fulltext';
  fields: { name: string }[];
}

export interface SchemaModel {
  models: DmmfModel[];
  enums: DmmfEnum[];
  indexes: DmmfIndex[];
  /** `Unsupported("…")` fields, which the DMMF leaves out: model name → field. */
  unsupported: { model: string; name: string; dbName: string; type: string; isRequired: boolean }[];
}

export function readSchema(schema: string): SchemaModel {
  const dmmf = JSON.parse(
    get_dmmf(JSON.stringify({ prismaSchema: [['schema.prisma', schema]] })),
  ) as {
    datamodel: { models: DmmfModel[]; enums: DmmfEnum[]; indexes: DmmfIndex[] };
  };
  return { ...dmmf.datamodel, unsupported: unsupportedFields(schema) };
}

/** A light scan of model blocks for `name Unsupported("type")?  @map("db_name")`. */
function unsupportedFields(schema: string): SchemaModel['unsupported'] {
  const out: SchemaModel['unsupported'] = [];
  const modelRe = /^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm;
  for (const model of schema.matchAll(modelRe)) {
    const [, modelName = '', body = ''] = model;
    for (const line of body.split('\n')) {
      const m = /^\s*(\w+)\s+Unsupported\("([^"]+)"\)(\?)?(.*)$/.exec(line);
      if (!m) continue;
      const [, name = '', type = '', optional, rest = ''] = m;
      const mapped = /@map\("([^"]+)"\)/.exec(rest)?.[1];
      out.push({
        model: modelName,
        name,
        dbName: mapped ?? name,
        type,
        isRequired: optional === undefined,
      });
    }
  }
  return out;
}
