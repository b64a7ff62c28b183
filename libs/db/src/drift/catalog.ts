// The actual database, read from information_schema / pg_catalog (schema `public`).
import type { Client } from 'pg';

export interface CatalogColumn {
  table: string;
  column: string;
  udtName: string;
  nullable: boolean;
  hasDefault: boolean;
  datetimePrecision: number | null;
  numericPrecision: number | null;
  numericScale: number | null;
}

export interface CatalogIndex {
  table: string;
  name: string;
  unique: boolean;
  primary: boolean;
  method: string;
  partial: boolean;
  expression: boolean;
  columns: string[];
}

export interface CatalogForeignKey {
  table: string;
  name: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
  onDelete: string;
}

export interface Catalog {
  tables: string[];
  columns: CatalogColumn[];
  enums: Map<string, string[]>;
  indexes: CatalogIndex[];
  foreignKeys: CatalogForeignKey[];
}

/** Tables that belong to the tooling, not to the schema. */
export const IGNORED_TABLES: ReadonlySet<string> = new Set(['likeness_migrations']);

export async function readCatalog(client: Client): Promise<Catalog> {
  const tables = await client.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
     WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const columns = await client.query<{
    table_name: string;
    column_name: string;
    udt_name: string;
    is_nullable: string;
    column_default: string | null;
    datetime_precision: number | null;
    numeric_precision: number | null;
    numeric_scale: number | null;
  }>(
    `SELECT c.table_name, c.column_name, c.udt_name, c.is_nullable, c.column_default,
            c.datetime_precision, c.numeric_precision, c.numeric_scale
     FROM information_schema.columns c
     JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
     WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
     ORDER BY c.table_name, c.ordinal_position`,
  );
  const enums = await client.query<{ typname: string; labels: string[] }>(
    `SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
     FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = 'public' GROUP BY t.typname`,
  );
  const indexes = await client.query<{
    table_name: string;
    index_name: string;
    indisunique: boolean;
    indisprimary: boolean;
    amname: string;
    partial: boolean;
    expression: boolean;
    columns: string[];
  }>(
    `SELECT tbl.relname AS table_name, idx.relname AS index_name, i.indisunique, i.indisprimary, am.amname,
            i.indpred IS NOT NULL AS partial, i.indexprs IS NOT NULL AS expression,
            array(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns
     FROM pg_index i
     JOIN pg_class tbl ON tbl.oid = i.indrelid
     JOIN pg_class idx ON idx.oid = i.indexrelid
     JOIN pg_namespace n ON n.oid = tbl.relnamespace
     JOIN pg_am am ON am.oid = idx.relam
     WHERE n.nspname = 'public'`,
  );
  const fks = await client.query<{
    table_name: string;
    conname: string;
    ref_table: string;
    confdeltype: string;
    columns: string[];
    ref_columns: string[];
  }>(
    `SELECT cl.relname AS table_name, con.conname, ref.relname AS ref_table, con.confdeltype,
            array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
            array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord) AS ref_columns
     FROM pg_constraint con
     JOIN pg_class cl ON cl.oid = con.conrelid
     JOIN pg_class ref ON ref.oid = con.confrelid
     JOIN pg_namespace n ON n.oid = cl.relnamespace
     WHERE con.contype = 'f' AND n.nspname = 'public'`,
  );
  const keep = (table: string): boolean => !IGNORED_TABLES.has(table);
  return {
    tables: tables.rows.map((r) => r.table_name).filter(keep),
    columns: columns.rows
      .filter((r) => keep(r.table_name))
      .map((r) => ({
        table: r.table_name,
        column: r.column_name,
        udtName: r.udt_name,
        nullable: r.is_nullable === 'YES',
        hasDefault: r.column_default !== null,
        datetimePrecision: r.datetime_precision,
        numericPrecision: r.numeric_precision,
        numericScale: r.numeric_scale,
      })),
    enums: new Map(enums.rows.map((r) => [r.typname, r.labels])),
    indexes: indexes.rows
      .filter((r) => keep(r.table_name))
      .map((r) => ({
        table: r.table_name,
        name: r.index_name,
        unique: r.indisunique,
        primary: r.indisprimary,
        method: r.amname,
        partial: r.partial,
        expression: r.expression,
        columns: r.columns,
      })),
    foreignKeys: fks.rows
      .filter((r) => keep(r.table_name))
      .map((r) => ({
        table: r.table_name,
        name: r.conname,
        columns: r.columns,
        refTable: r.ref_table,
        refColumns: r.ref_columns,
        onDelete: r.confdeltype,
      })),
  };
}
