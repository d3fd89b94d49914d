import { invalidArgument } from "./errors.js";

/**
 * Request validation: each helper returns the checked value or throws
 * INVALID_ARGUMENT naming the field, e.g. "config.epochs: must be an integer
 * in [1, 10000], got 20000". A zero value is "not set" (proto3 cannot tell
 * the two apart), so where 0 is out of range the field is reported as required.
 */
export function required<T>(value: T | undefined | null, field: string): T {
  if (value === undefined || value === null) throw invalidArgument(field, "is required");
  return value;
}

export function enumValue<T extends number>(value: T, field: string, names: Record<number, string>): T {
  if (value === 0) throw invalidArgument(field, "is required (got UNSPECIFIED)");
  if (!(value in names)) throw invalidArgument(field, `unknown value ${value}`);
  return value;
}

export function integerInRange(value: number | bigint, field: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw invalidArgument(field, `${n === 0 ? "is required: it " : ""}must be an integer in [${min}, ${max}], got ${value}`);
  }
  return n;
}

export function numberInRange(
  value: number,
  field: string,
  min: number,
  max: number,
  { minExclusive = false }: { minExclusive?: boolean } = {},
): number {
  const belowMin = minExclusive ? value <= min : value < min;
  if (!Number.isFinite(value) || belowMin || value > max) {
    throw invalidArgument(field, `${value === 0 ? "is required: it " : ""}must be in ${minExclusive ? "(" : "["}${min}, ${max}], got ${value}`);
  }
  return value;
}

export function nonEmptyString(value: string, field: string, maxLength = 1024): string {
  if (value.length === 0) throw invalidArgument(field, "is required (got an empty string)");
  if (value.length > maxLength) throw invalidArgument(field, `must be at most ${maxLength} characters`);
  return value;
}

export function nonEmptyList<T>(values: readonly T[], field: string): readonly T[] {
  if (values.length === 0) throw invalidArgument(field, "is required (got an empty list)");
  return values;
}
