/**
 * Every environment variable a GAP Lab process reads, parsed and checked in
 * one place at start-up. A bad value is a ConfigError naming the variable,
 * the value and what is allowed; processes print it as one line and exit 2.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface Variable<T> {
  /** What it sets, for the README's configuration table. */
  doc: string;
  /** Shown in the table and used when the variable is unset or empty. */
  defaultText: string;
  parse(raw: string | undefined, name: string): T;
}

const bad = (name: string, raw: string, allowed: string) => new ConfigError(`${name}="${raw}": ${allowed}`);

/** An integer in [min, max]; unset or empty gives the default. */
export function integer(doc: string, fallback: number, min: number, max: number, unit = ""): Variable<number> {
  return {
    doc,
    defaultText: `${fallback}${unit}`,
    parse(raw, name) {
      if (raw === undefined || raw.trim() === "") return fallback;
      const value = Number(raw);
      if (!/^\s*-?\d+\s*$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
        throw bad(name, raw, `must be an integer in [${min}, ${max}]`);
      }
      return value;
    },
  };
}

/** One of a few words. */
export function oneOf<const W extends string>(doc: string, fallback: W, words: readonly W[]): Variable<W> {
  return {
    doc,
    defaultText: fallback,
    parse(raw, name) {
      if (raw === undefined || raw.trim() === "") return fallback;
      const value = raw.trim() as W;
      if (!words.includes(value)) throw bad(name, raw, `must be one of ${words.join(", ")}`);
      return value;
    },
  };
}

/** Free text (a host, a directory); unset gives the default. */
export function text(doc: string, fallback: string | undefined, defaultText = fallback ?? "unset"): Variable<string | undefined> {
  return { doc, defaultText, parse: (raw) => (raw === undefined || raw === "" ? fallback : raw) };
}

/** A switch: 1/true/on/yes or 0/false/off/no. */
export function flag(doc: string, fallback: boolean): Variable<boolean> {
  return {
    doc,
    defaultText: fallback ? "1" : "0",
    parse(raw, name) {
      if (raw === undefined || raw.trim() === "") return fallback;
      if (/^(1|true|on|yes)$/i.test(raw.trim())) return true;
      if (/^(0|false|off|no)$/i.test(raw.trim())) return false;
      throw bad(name, raw, "must be 1 or 0 (also true/false, on/off, yes/no)");
    },
  };
}

/** Parses the given variables of `env`; the first bad one throws. */
export function readEnv<V extends Record<string, Variable<unknown>>>(
  variables: V,
  env: Readonly<Record<string, string | undefined>>,
): { [K in keyof V]: V[K] extends Variable<infer T> ? T : never } {
  const out: Record<string, unknown> = {};
  for (const [name, variable] of Object.entries(variables)) out[name] = variable.parse(env[name], name);
  return out as never;
}

/**
 * Runs a process's start-up; a ConfigError ends the process with status 2 and
 * one line on stderr, anything else propagates.
 */
export function exitOnConfigError<T>(start: () => T): T {
  try {
    return start();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`configuration error: ${error.message}\n`);
    process.exit(2);
  }
}
