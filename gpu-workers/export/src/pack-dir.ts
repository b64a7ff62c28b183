import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MANIFEST_FILE,
  isRecord,
  stageFile,
  stageNames,
  toJsonPath,
  validateManifest,
} from '@likeness/contracts';
import type { PackProblem, PackValidation } from '@likeness/contracts';

/**
 * Validates a pack folder: the manifest's schema and rules, and that every stage's ONNX file
 * exists. Reports every problem, so one run lists all that needs fixing.
 */
export async function validatePackDir(dir: string): Promise<PackValidation> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    return {
      ok: false,
      problems: [
        { path: '$', message: `cannot read ${MANIFEST_FILE} in ${dir}: ${errorMessage(error)}` },
      ],
    };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return {
      ok: false,
      problems: [
        { path: '$', message: `${MANIFEST_FILE} is not valid JSON: ${errorMessage(error)}` },
      ],
    };
  }

  const schemaResult = validateManifest(data);
  const fileProblems = await checkStageFiles(dir, data);
  if (schemaResult.ok && fileProblems.length === 0) return schemaResult;
  return { ok: false, problems: [...schemaResult.problems, ...fileProblems] };
}

/** Looks at the raw manifest, so missing files are reported even when other fields are wrong. */
async function checkStageFiles(dir: string, data: unknown): Promise<PackProblem[]> {
  const stages = isRecord(data) && isRecord(data['stages']) ? data['stages'] : {};
  const problems: PackProblem[] = [];
  for (const name of stageNames) {
    const stage = stages[name];
    const file = isRecord(stage) ? stage['file'] : undefined;
    if (typeof file !== 'string' || !stageFile.safeParse(file).success) continue; // the schema reports it
    const path = toJsonPath(['stages', name, 'file']);
    try {
      const info = await stat(join(dir, file));
      if (!info.isFile()) problems.push({ path, message: `${file} is not a file` });
      else if (info.size === 0) problems.push({ path, message: `${file} is empty` });
    } catch {
      problems.push({ path, message: `file not found: ${file}` });
    }
  }
  return problems;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
