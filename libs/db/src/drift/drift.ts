// Compares what schema.prisma says (DMMF) with what the migrations built (catalog). Each
// difference is one human-readable line naming the model/field and the table/column.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import { migrate } from '../migrate/migrate';
import { createTemporaryDatabase } from '../temp-database';
import { Catalog, CatalogColumn, readCatalog } from './catalog';
import { DmmfField, DmmfModel, SchemaModel, readSchema } from './dmmf';

export const DEFAULT_SCHEMA_PATH = path.resolve(__dirname, '../../../../prisma/schema.prisma');

const SCALAR_UDT: Record<string, string> = {
  String: 'text',
  Int: 'int4',
  BigInt: 'int8',
  Float: 'float8',
  Decimal: 'numeric',
  Boolean: 'bool',
  DateTime: 'timestamp',
  Json: 'jsonb',
  Bytes: 'bytea',
};

const NATIVE_UDT: Record<string, string> = {
  Uuid: 'uuid',
  Text: 'text',
  VarChar: 'varchar',
  Char: 'bpchar',
  Timestamptz: 'timestamptz',
  Timestamp: 'timestamp',
  Date: 'date',
  Time: 'time',
  Timetz: 'timetz',
  Integer: 'int4',
  SmallInt: 'int2',
  BigInt: 'int8',
  Real: 'float4',
  DoublePrecision: 'float8',
  Decimal: 'numeric',
  JsonB: 'jsonb',
  Json: 'json',
  ByteA: 'bytea',
  Boolean: 'bool',
  Inet: 'inet',
  Citext: 'citext',
};

const ON_DELETE: Record<string, string> = {
  Cascade: 'c',
  Restrict: 'r',
  NoAction: 'a',
  SetNull: 'n',
  SetDefault: 'd',
};

function tableOf(model: DmmfModel): string {
  return model.dbName ?? model.name;
}

function columnOf(field: DmmfField): string {
  return field.dbName ?? field.name;
}

interface ExpectedType {
  udt: string;
  datetimePrecision?: number;
  numericPrecision?: number;
  numericScale?: number;
}

function expectedType(field: DmmfField, schema: SchemaModel): ExpectedType | null {
  let base: ExpectedType;
  if (field.kind === 'enum') {
    const e = schema.enums.find((x) => x.name === field.type);
    base = { udt: e?.dbName ?? field.type };
  } else if (field.nativeType) {
    const [native, args] = field.nativeType;
    const udt = NATIVE_UDT[native];
    if (!udt) return null;
    base = { udt };
    if (
      (udt === 'timestamptz' || udt === 'timestamp' || udt === 'time' || udt === 'timetz') &&
      args[0] !== undefined
    ) {
      base.datetimePrecision = Number(args[0]);
    }
    if (udt === 'numeric' && args.length === 2) {
      base.numericPrecision = Number(args[0]);
      base.numericScale = Number(args[1]);
    }
  } else {
    const udt = SCALAR_UDT[field.type];
    if (!udt) return null;
    base = { udt };
    if (field.type === 'DateTime') base.datetimePrecision = 3;
    if (field.type === 'Decimal') {
      base.numericPrecision = 65;
      base.numericScale = 30;
    }
  }
  return field.isList ? { udt: `_${base.udt}` } : base;
}

function describeActual(col: CatalogColumn): string {
  const extra =
    col.udtName.startsWith('timestamp') && col.datetimePrecision !== null
      ? `(${col.datetimePrecision})`
      : col.udtName === 'numeric' && col.numericPrecision !== null
        ? `(${col.numericPrecision},${col.numericScale ?? 0})`
        : '';
  return `${col.udtName}${extra}`;
}

/** Every difference between the Prisma schema text and the catalog; empty when they agree. */
export function diffSchemaAndCatalog(schemaText: string, catalog: Catalog): string[] {
  const schema = readSchema(schemaText);
  const problems: string[] = [];
  const columnsByTable = new Map<string, Map<string, CatalogColumn>>();
  for (const col of catalog.columns) {
    const cols = columnsByTable.get(col.table) ?? new Map<string, CatalogColumn>();
    cols.set(col.column, col);
    columnsByTable.set(col.table, cols);
  }
  const modelsByName = new Map(schema.models.map((m) => [m.name, m]));
  const fieldColumn = (model: DmmfModel, fieldName: string): string => {
    const field = model.fields.find((f) => f.name === fieldName);
    return field ? columnOf(field) : fieldName;
  };

  // Tables
  const expectedTables = new Set(schema.models.map(tableOf));
  for (const model of schema.models) {
    if (!catalog.tables.includes(tableOf(model)))
      problems.push(`model ${model.name}: table ${tableOf(model)} is missing in the database`);
  }
  for (const table of catalog.tables) {
    if (!expectedTables.has(table))
      problems.push(`table ${table} exists in the database but no model maps to it`);
  }

  // Columns
  for (const model of schema.models) {
    const table = tableOf(model);
    const actual = columnsByTable.get(table);
    if (!actual) continue;
    const expectedColumns = new Set<string>();
    for (const field of model.fields) {
      if (field.kind === 'object') continue;
      const column = columnOf(field);
      expectedColumns.add(column);
      const where = `${model.name}.${field.name} (${table}.${column})`;
      const col = actual.get(column);
      if (!col) {
        problems.push(`${where}: column ${table}.${column} is missing in the database`);
        continue;
      }
      const want = expectedType(field, schema);
      if (!want) {
        problems.push(
          `${where}: the drift check does not know type ${field.type}${field.nativeType ? ` @db.${field.nativeType[0]}` : ''}`,
        );
      } else {
        const typeOk =
          col.udtName === want.udt &&
          (want.datetimePrecision === undefined ||
            col.datetimePrecision === want.datetimePrecision) &&
          (want.numericPrecision === undefined ||
            (col.numericPrecision === want.numericPrecision &&
              col.numericScale === want.numericScale));
        if (!typeOk) {
          const wanted = `${want.udt}${want.datetimePrecision !== undefined ? `(${want.datetimePrecision})` : ''}${want.numericPrecision !== undefined ? `(${want.numericPrecision},${want.numericScale ?? 0})` : ''}`;
          problems.push(
            `${where}: type is ${describeActual(col)} in the database, schema wants ${wanted}`,
          );
        }
      }
      const wantNullable = !field.isRequired;
      if (col.nullable !== wantNullable) {
        problems.push(
          `${where}: column is ${col.nullable ? 'NULL' : 'NOT NULL'} in the database, schema wants ${wantNullable ? 'NULL' : 'NOT NULL'}`,
        );
      }
      if (col.hasDefault !== field.hasDefaultValue) {
        problems.push(
          `${where}: column ${col.hasDefault ? 'has' : 'has no'} default in the database, schema ${field.hasDefaultValue ? 'has' : 'has no'} @default`,
        );
      }
    }
    for (const field of schema.unsupported.filter((u) => u.model === model.name)) {
      expectedColumns.add(field.dbName);
      const where = `${model.name}.${field.name} (${table}.${field.dbName})`;
      const col = actual.get(field.dbName);
      if (!col) {
        problems.push(`${where}: column ${table}.${field.dbName} is missing in the database`);
        continue;
      }
      if (col.udtName !== field.type)
        problems.push(
          `${where}: type is ${col.udtName} in the database, schema wants Unsupported("${field.type}")`,
        );
      if (col.nullable === field.isRequired) {
        problems.push(
          `${where}: column is ${col.nullable ? 'NULL' : 'NOT NULL'} in the database, schema wants ${field.isRequired ? 'NOT NULL' : 'NULL'}`,
        );
      }
    }
    for (const column of actual.keys()) {
      if (!expectedColumns.has(column))
        problems.push(
          `model ${model.name}: column ${table}.${column} exists in the database but not in the schema`,
        );
    }
  }

  // Enums
  const expectedEnums = new Set<string>();
  for (const e of schema.enums) {
    const typeName = e.dbName ?? e.name;
    expectedEnums.add(typeName);
    const labels = catalog.enums.get(typeName);
    const want = e.values.map((v) => v.dbName ?? v.name);
    if (!labels) {
      problems.push(`enum ${e.name}: type ${typeName} is missing in the database`);
      continue;
    }
    for (const v of want)
      if (!labels.includes(v))
        problems.push(`enum ${e.name}: value ${v} is missing from type ${typeName}`);
    for (const v of labels)
      if (!want.includes(v))
        problems.push(`enum ${e.name}: type ${typeName} has value ${v} that the schema does not`);
  }
  for (const typeName of catalog.enums.keys()) {
    if (!expectedEnums.has(typeName))
      problems.push(`enum type ${typeName} exists in the database but not in the schema`);
  }

  // Primary keys, unique and plain indexes (by table + ordered column list)
  const key = (table: string, cols: string[]): string => `${table}(${cols.join(', ')})`;
  const plainIndexes = catalog.indexes.filter((i) => !i.partial && !i.expression);
  const actualPk = new Set(
    plainIndexes.filter((i) => i.primary).map((i) => key(i.table, i.columns)),
  );
  const actualUnique = new Set(
    plainIndexes.filter((i) => i.unique && !i.primary).map((i) => key(i.table, i.columns)),
  );
  const actualNormal = new Set(
    plainIndexes
      .filter((i) => !i.unique && i.method === 'btree')
      .map((i) => key(i.table, i.columns)),
  );
  const expectedPk = new Set<string>();
  const expectedUnique = new Set<string>();
  const expectedNormal = new Set<string>();
  for (const index of schema.indexes) {
    const model = modelsByName.get(index.model);
    if (!model) continue;
    const k = key(
      tableOf(model),
      index.fields.map((f) => fieldColumn(model, f.name)),
    );
    switch (index.type) {
      case 'id':
        expectedPk.add(k);
        break;
      case 'unique':
        expectedUnique.add(k);
        break;
      case 'normal':
        expectedNormal.add(k);
        break;
      case 'fulltext':
        break;
    }
  }
  for (const k of expectedPk)
    if (!actualPk.has(k)) problems.push(`primary key ${k} is missing in the database`);
  for (const k of actualPk)
    if (!expectedPk.has(k)) problems.push(`primary key ${k} in the database is not the schema's`);
  for (const k of expectedUnique)
    if (!actualUnique.has(k)) problems.push(`unique index ${k} is missing in the database`);
  for (const k of actualUnique)
    if (!expectedUnique.has(k))
      problems.push(`unique index ${k} exists in the database but not in the schema`);
  for (const k of expectedNormal)
    if (!actualNormal.has(k)) problems.push(`index ${k} is missing in the database`);
  for (const k of actualNormal)
    if (!expectedNormal.has(k))
      problems.push(`index ${k} exists in the database but not in the schema (@@index)`);

  // Foreign keys
  const actualFks = new Map(
    catalog.foreignKeys.map((fk) => [
      `${key(fk.table, fk.columns)} -> ${key(fk.refTable, fk.refColumns)}`,
      fk,
    ]),
  );
  const expectedFks = new Set<string>();
  for (const model of schema.models) {
    for (const field of model.fields) {
      if (
        field.kind !== 'object' ||
        !field.relationFromFields ||
        field.relationFromFields.length === 0
      )
        continue;
      const target = modelsByName.get(field.type);
      if (!target) continue;
      const k = `${key(
        tableOf(model),
        field.relationFromFields.map((f) => fieldColumn(model, f)),
      )} -> ${key(
        tableOf(target),
        (field.relationToFields ?? []).map((f) => fieldColumn(target, f)),
      )}`;
      expectedFks.add(k);
      const fk = actualFks.get(k);
      if (!fk) {
        problems.push(`${model.name}.${field.name}: foreign key ${k} is missing in the database`);
        continue;
      }
      const wantAction = field.relationOnDelete ?? (field.isRequired ? 'Restrict' : 'SetNull');
      if (ON_DELETE[wantAction] !== fk.onDelete) {
        problems.push(
          `${model.name}.${field.name}: foreign key ${k} has ON DELETE '${fk.onDelete}' in the database, schema wants ${wantAction}`,
        );
      }
    }
  }
  for (const k of actualFks.keys())
    if (!expectedFks.has(k))
      problems.push(`foreign key ${k} exists in the database but not in the schema`);

  return problems;
}

/** Diff a live database against schema text. */
export async function checkDrift(options: { url: string; schema: string }): Promise<string[]> {
  const client = new Client({ connectionString: options.url });
  await client.connect();
  try {
    return diffSchemaAndCatalog(options.schema, await readCatalog(client));
  } finally {
    await client.end();
  }
}

/**
 * The CI check: apply every migration to a new empty database on `adminUrl`'s server, diff it
 * against schema.prisma, drop the database. Returns the problems (empty = in agreement).
 * The database is named like a test database, so a crashed run's leftover is dropped later.
 */
export async function checkMigrationsMatchSchema(options: {
  adminUrl: string;
  schemaPath?: string;
  migrationsDir?: string;
  appPassword?: string;
}): Promise<string[]> {
  const schema = await readFile(options.schemaPath ?? DEFAULT_SCHEMA_PATH, 'utf8');
  const database = await createTemporaryDatabase(options.adminUrl, 'likeness_test');
  try {
    await migrate({
      url: database.url,
      migrationsDir: options.migrationsDir,
      appPassword: options.appPassword,
    });
    return await checkDrift({ url: database.url, schema });
  } finally {
    await database.drop();
  }
}
