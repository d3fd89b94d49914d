import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";

export const DEPLOY_DIR = resolve(import.meta.dirname, "..");
export const REPO_ROOT = resolve(DEPLOY_DIR, "..");
export const K8S_DIR = join(DEPLOY_DIR, "k8s");
export const DOCKERFILE = join(DEPLOY_DIR, "docker/Dockerfile");

/** A rendered Kubernetes object (only the fields the tests read are typed). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; generateName?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // Kubernetes objects are deep and varied; the tests walk them as plain data.
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/**
 * The kubectl to render with: GAP_KUBECTL, else `kubectl` on PATH (CI installs Debian's
 * kubernetes-client when the machine has none). Undefined, with the reason, when missing.
 */
export function findKubectl(): { kubectl?: string; reason?: string } {
  const kubectl = process.env.GAP_KUBECTL || "kubectl";
  const probe = spawnSync(kubectl, ["version", "--client"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    return { reason: `no usable kubectl (${kubectl}: ${probe.error?.message ?? probe.stderr.trim()}); install kubernetes-client or set GAP_KUBECTL` };
  }
  return { kubectl };
}

/**
 * The major version of the kustomize inside kubectl: `kubectl version --client` names it
 * from kubectl 1.21 (kustomize 4) on; older kubectls embed kustomize 2.0.3.
 */
export function kustomizeMajor(kubectl: string): number {
  const out = spawnSync(kubectl, ["version", "--client"], { encoding: "utf8" }).stdout ?? "";
  return Number(/Kustomize Version: v?(\d+)/.exec(out)?.[1] ?? 2);
}

/**
 * `kubectl kustomize <dir>`: the objects, and stderr less kustomize's deprecation notes
 * (bases and patchesStrategicMerge, kept so that the old kustomize in Debian's kubectl
 * 1.20 renders the same overlays).
 */
export function render(kubectl: string, dir: string): { objects: K8sObject[]; warnings: string[] } {
  const run = spawnSync(kubectl, ["kustomize", dir], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (run.error || run.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${run.error?.message ?? run.stderr}`);
  const warnings = run.stderr
    .split("\n")
    .filter((line) => line.trim() !== "" && !/^# Warning: '\w+' is deprecated\./.test(line));
  const objects = parseAllDocuments(run.stdout)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir}: ${doc.errors[0]!.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o != null);
  return { objects, warnings };
}

type Model = new (data: unknown) => { validate(): void };
const requireModel = createRequire(import.meta.url);

/**
 * Where the schemas of custom resources come from: the CRDs' own OpenAPI schemas, as
 * kubernetes-models generates validators from them (Knative Serving 1.10's and the
 * Prometheus Operator 0.65's). Everything else is Kubernetes 1.27's.
 */
const CRD_MODELS: Record<string, string> = {
  "serving.knative.dev": "@kubernetes-models/knative",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

/**
 * Validates an object against the OpenAPI schema of its apiVersion and kind, with the
 * validators kubernetes-models generates from it. Returns the problems.
 */
export function schemaProblems(object: K8sObject): string[] {
  let models: Record<string, Model | undefined>;
  const group = object.apiVersion.includes("/") ? object.apiVersion.split("/")[0]! : "";
  try {
    models = requireModel(`${CRD_MODELS[group] ?? "kubernetes-models"}/${object.apiVersion}`) as Record<string, Model | undefined>;
  } catch {
    return [`no OpenAPI schema for apiVersion ${object.apiVersion}`];
  }
  const Model = models[object.kind];
  if (!Model) return [`no OpenAPI schema for ${object.apiVersion} ${object.kind}`];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    const details = (error as { errors?: Array<{ instancePath: string; message?: string }> }).errors;
    return details?.map((e) => `${e.instancePath || "/"} ${e.message ?? "invalid"}`) ?? [(error as Error).message];
  }
}

export const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")}`);
  return found;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }>;
}

/** Whether a label selector (matchLabels and matchExpressions) selects the given labels; an empty one selects none. */
export function selects(selector: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  const wanted = Object.entries(selector?.matchLabels ?? {});
  const expressions = selector?.matchExpressions ?? [];
  if (wanted.length + expressions.length === 0) return false;
  return (
    wanted.every(([key, value]) => labels?.[key] === value) &&
    expressions.every(({ key, operator, values = [] }) => {
      const value = labels?.[key];
      if (operator === "Exists") return value !== undefined;
      if (operator === "DoesNotExist") return value === undefined;
      return operator === "In" ? value !== undefined && values.includes(value) : value === undefined || !values.includes(value);
    })
  );
}
