/** Two aligned columns, label then value: readable in a terminal, greppable in scripts. */
export function formatTable(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}
