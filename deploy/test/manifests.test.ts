// Renders deploy/k8s with `kubectl kustomize` and checks the result against the config
// the services read (libs/service-kit/src/config.ts and the readers behind it), and every
// object against its OpenAPI schema: Kubernetes 1.27's, Knative Serving's and the
// Prometheus Operator's.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { s3ConfigFromEnv } from "@gap/artifacts";
import { loadSpec, validateSpec } from "@gap/coordinator";
import { parseBackendChoice } from "@gap/ml-core";
import {
  addressesEnvVar,
  CLI_ENV,
  CLUSTER_METRICS_PORT,
  COMPUTE_SERVICES,
  coordinatorConfigFromEnv,
  COORDINATOR_ENV,
  ENV,
  HEARTBEAT_MS,
  serviceConfigFromEnv,
  SERVICES,
  type ServiceName,
} from "@gap/service-kit";
import { byKind, find, findKubectl, K8S_DIR, kustomizeMajor, REPO_ROOT, render, schemaProblems, selects, type K8sObject, type LabelSelector } from "./support.js";

/** Variables the manifests set that config.ts does not list, and the file that reads each. */
const OTHER_ENV: Record<string, string> = {
  GAP_CACHE_DIR: "libs/ml-core/src/data/cifar10.ts",
  OMP_NUM_THREADS: "libs/ml-core/src/runtime/native/addon.ts",
};
const KNOWN_ENV = new Set<string>([
  ...Object.values(ENV),
  ...Object.values(CLI_ENV),
  ...Object.values(COORDINATOR_ENV),
  ...COMPUTE_SERVICES.map(addressesEnvVar),
  ...Object.keys(OTHER_ENV),
]);
/** The images deploy/docker/Dockerfile builds (targets cpu and gpu). */
const OUR_IMAGES = new Set(["gap-lab", "gap-lab-gpu"]);
const GPU = "nvidia.com/gpu";
const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];
const NAMESPACE = "gap-lab";
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;
const RECOMMENDED = ["name", "instance", "version", "component", "part-of", "managed-by"].map((l) => `app.kubernetes.io/${l}`);
/** Fields a Knative revision template adds to a pod spec. */
const KNATIVE_REVISION_FIELDS = ["containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds", "idleTimeoutSeconds"];

const { kubectl, reason } = findKubectl();
if (!kubectl) console.warn(`deploy: skipping the manifest tests: ${reason}`);
// The serverless overlay deletes the base's compute Deployments ($patch: delete), which the
// kustomize 2.0.3 of kubectl 1.20 leaves behind as empty objects: it needs kubectl 1.21 or later.
const SERVERLESS = !kubectl || kustomizeMajor(kubectl) >= 4;
if (kubectl && !SERVERLESS) console.warn(`deploy: ${kubectl}'s kustomize is older than 4: overlays/serverless not rendered (it needs kubectl 1.21 or later)`);
const CLUSTERS = ["base", "overlays/local", "overlays/gpu-cluster"] as const;
type Rendering = (typeof CLUSTERS)[number] | "overlays/serverless" | "overlays/monitoring";
const RENDERED: Rendering[] = [...CLUSTERS, ...(SERVERLESS ? (["overlays/serverless"] as const) : []), "overlays/monitoring"];
const EXPERIMENT_JOB = join(K8S_DIR, "experiment/job.yaml");

/** Containers are plain data from YAML, walked as such. */
type Container = any;

const imageName = (image: string) => basename(image.split("@")[0]!).split(":")[0]!;
const podTemplate = (o: K8sObject) => o.spec.template;
const podSpec = (o: K8sObject) => podTemplate(o).spec;
const containersOf = (o: K8sObject): Container[] => podSpec(o).containers;
/** Everything that makes pods: the Deployments, StatefulSets and Jobs, and the Knative Services. */
const workloads = (objects: K8sObject[]) =>
  objects.filter((o) => ["Deployment", "StatefulSet", "Job"].includes(o.kind) || o.apiVersion.startsWith("serving.knative.dev/"));
const knativeServices = (objects: K8sObject[]) => objects.filter((o) => o.apiVersion === "serving.knative.dev/v1" && o.kind === "Service");
const coreService = (objects: K8sObject[], name: string) => objects.find((o) => o.apiVersion === "v1" && o.kind === "Service" && o.metadata.name === name);

/** A container's environment as the process sees it: envFrom ConfigMaps and Secrets, then env. */
function containerEnv(objects: K8sObject[], container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, find(objects, "ConfigMap", source.configMapRef.name).data);
    if (source.secretRef) Object.assign(env, find(objects, "Secret", source.secretRef.name).stringData);
  }
  for (const variable of container.env ?? []) env[variable.name] = variable.value ?? `<${JSON.stringify(variable.valueFrom)}>`;
  return env;
}

/** The pods' labels of every workload (Knative adds serving.knative.dev/service to its revisions' pods). */
const podsOf = (objects: K8sObject[]) =>
  workloads(objects).map((w) => {
    const labels: Record<string, string> = { ...podTemplate(w).metadata.labels };
    if (w.kind === "Service") labels["serving.knative.dev/service"] = w.metadata.name;
    return { name: w.metadata.name, labels };
  });

interface Peer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface Rule {
  peers: Peer[];
  ports: Array<{ protocol?: string; port?: number }>;
}
/** An empty podSelector in a policy selects every pod of the namespace. */
const policySelects = (selector: LabelSelector, labels: Record<string, string>) =>
  Object.keys(selector.matchLabels ?? {}).length + (selector.matchExpressions ?? []).length === 0 || selects(selector, labels);

/** The ingress or egress rules that apply to a pod with these labels (NetworkPolicies add up). */
function rulesFor(objects: K8sObject[], labels: Record<string, string>, direction: "ingress" | "egress"): Rule[] {
  const type = direction === "ingress" ? "Ingress" : "Egress";
  return byKind(objects, "NetworkPolicy")
    .filter((p) => p.spec.policyTypes.includes(type) && policySelects(p.spec.podSelector, labels))
    .flatMap((p) => (p.spec[direction] ?? []).map((r: { from?: Peer[]; to?: Peer[]; ports?: Rule["ports"] }) => ({ peers: r.from ?? r.to ?? [], ports: r.ports ?? [] })));
}

/** Whether the rules let traffic to/from a pod of this namespace with `peer` labels on `port` (TCP). */
function allowsPod(rules: Rule[], peer: Record<string, string>, port: number): boolean {
  return rules.some(
    (r) =>
      (r.ports.length === 0 || r.ports.some((p) => p.port === port && (p.protocol ?? "TCP") === "TCP")) &&
      (r.peers.length === 0 || r.peers.some((p) => !p.namespaceSelector && !p.ipBlock && p.podSelector && policySelects(p.podSelector, peer))),
  );
}

describe.skipIf(!kubectl)(`deploy/k8s rendered with kubectl kustomize${kubectl ? "" : ` (skipped: ${reason})`}`, () => {
  const rendered = {} as Record<Rendering, K8sObject[]>;
  let experimentJob: K8sObject;
  let scratch: string;

  beforeAll(() => {
    for (const dir of RENDERED) {
      const { objects, warnings } = render(kubectl!, join(K8S_DIR, dir));
      expect(warnings, `kubectl kustomize ${dir} stderr`).toEqual([]);
      rendered[dir] = objects;
    }
    experimentJob = parseYaml(readFileSync(EXPERIMENT_JOB, "utf8")) as K8sObject;
    scratch = mkdtempSync(join(tmpdir(), "gap-deploy-"));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it.each(RENDERED)("%s: every object is valid against its OpenAPI schema, in the namespace, with the recommended labels", (dir) => {
    const objects = rendered[dir];
    expect(objects.length).toBeGreaterThan(0);
    const problems = objects.flatMap((o) => schemaProblems(o).map((p) => `${o.kind}/${o.metadata.name}: ${p}`));
    expect(problems).toEqual([]);
    for (const o of objects) {
      const where = `${o.kind}/${o.metadata.name}`;
      if (o.kind !== "Namespace") expect(o.metadata.namespace, where).toBe(NAMESPACE);
      expect(o.metadata.labels, where).toMatchObject({
        "app.kubernetes.io/part-of": "gap-lab",
        "app.kubernetes.io/instance": "gap-lab",
        "app.kubernetes.io/version": VERSION,
        "app.kubernetes.io/managed-by": "kustomize",
      });
    }
    for (const workload of workloads(objects)) {
      const labels = podTemplate(workload).metadata.labels;
      for (const label of RECOMMENDED) expect(labels[label], `${workload.metadata.name} pods: ${label}`).toBeTruthy();
      expect(labels["app.kubernetes.io/name"]).toBe(workload.metadata.name);
      expect(labels["app.kubernetes.io/version"]).toBe(VERSION);
    }
  });

  it.skipIf(!SERVERLESS)("the validators reject what the schemas forbid (they validate, they do not just parse)", () => {
    const knative = structuredClone(find(rendered["overlays/serverless"], "Service", "training"));
    if (knative.apiVersion !== "serving.knative.dev/v1") throw new Error("expected the Knative Service first");
    knative.spec.template.spec.containerConcurrency = "one";
    expect(schemaProblems(knative).join("; ")).toContain("containerConcurrency");
    const monitor = structuredClone(find(rendered["overlays/monitoring"], "PodMonitor", "gap-lab"));
    monitor.spec.podMetricsEndpoints = "metrics";
    expect(schemaProblems(monitor)).not.toEqual([]);
    const deployment = structuredClone(find(rendered.base, "Deployment", "coordinator"));
    deployment.spec.template.spec.containers[0].startupProbe.periodSeconds = "often";
    expect(schemaProblems(deployment)).not.toEqual([]);
  });

  it.each(RENDERED)("%s: every variable set on a GAP Lab container is one the code reads", (dir) => {
    for (const [name, file] of Object.entries(OTHER_ENV)) expect(readFileSync(join(REPO_ROOT, file), "utf8"), `${file} reads ${name}`).toContain(name);
    for (const workload of workloads(rendered[dir])) {
      for (const container of containersOf(workload)) {
        if (!OUR_IMAGES.has(imageName(container.image))) continue;
        const unknown = Object.keys(containerEnv(rendered[dir], container)).filter((name) => !KNOWN_ENV.has(name));
        expect(unknown, `${workload.kind}/${workload.metadata.name}`).toEqual([]);
        expect(container.args, `${workload.metadata.name} runs a file of the repository`).toHaveLength(1);
        expect(existsSync(join(REPO_ROOT, container.args[0])), container.args[0]).toBe(true);
      }
    }
  });

  describe.each<Rendering>([...CLUSTERS, ...(SERVERLESS ? (["overlays/serverless"] as const) : [])])("%s", (dir) => {
    const objects = () => rendered[dir];

    it("every service reaches MinIO with the settings the artifact store reads, as a user that is not MinIO's root", () => {
      const minio = find(objects(), "StatefulSet", "minio");
      const minioPort = containersOf(minio)[0].ports[0].containerPort;
      const root = containerEnv(objects(), containersOf(minio)[0]);
      expect(root.MINIO_ROOT_USER).toBeTruthy();
      for (const workload of workloads(objects()).filter((w) => SERVICE_NAMES.includes(w.metadata.name as ServiceName))) {
        const env = containerEnv(objects(), containersOf(workload)[0]);
        const s3 = s3ConfigFromEnv(env);
        const service = find(objects(), "Service", s3.endPoint);
        expect(selects({ matchLabels: service.spec.selector }, minio.spec.template.metadata.labels)).toBe(true);
        expect(s3.port).toBe(minioPort);
        expect(service.spec.ports.map((p: { port: number }) => p.port)).toContain(minioPort);
        expect(s3.bucket).toBe(env[ENV.minioBucket]);
        expect(s3.accessKey, workload.metadata.name).not.toBe(root.MINIO_ROOT_USER);
        expect(Object.keys(env).filter((k) => k.startsWith("MINIO_ROOT")), workload.metadata.name).toEqual([]);
      }
      expect(minio.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
    });

    it("the bucket Job creates the services' user with a policy that covers the project's bucket only", () => {
      const job = find(objects(), "Job", "minio-make-bucket");
      const [container] = containersOf(job);
      const env = containerEnv(objects(), container);
      const script: string = container.args[0];
      expect(script).toContain('mc mb --ignore-existing "root/$MINIO_BUCKET"');
      expect(script).toMatch(/mc admin user add root "\$MINIO_ACCESS_KEY" "\$MINIO_SECRET_KEY"/);
      expect(script).toMatch(/mc admin policy attach root "\$MINIO_BUCKET-objects" --user "\$MINIO_ACCESS_KEY"/);
      expect(env.MINIO_ROOT_USER && env.MINIO_ACCESS_KEY).toBeTruthy();
      // The policy the script writes, by running its own lines up to the file.
      const lines = script.split("\n");
      const from = lines.findIndex((l) => l.startsWith("printf"));
      const to = lines.findIndex((l) => l.includes("> /tmp/bucket-policy.json"));
      const file = join(scratch, "policy.json");
      const run = spawnSync("sh", ["-ec", lines.slice(from, to + 1).join("\n").replace("/tmp/bucket-policy.json", file)], { env: { MINIO_BUCKET: env.MINIO_BUCKET } });
      expect(run.status, String(run.stderr)).toBe(0);
      const policy = JSON.parse(readFileSync(file, "utf8")) as { Statement: Array<{ Effect: string; Action: string[]; Resource: string[] }> };
      const bucket = env.MINIO_BUCKET!;
      expect(policy.Statement.every((s) => s.Effect === "Allow")).toBe(true);
      expect(policy.Statement.flatMap((s) => s.Resource).sort()).toEqual([`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`]);
      const actions = policy.Statement.flatMap((s) => s.Action);
      expect(actions.every((a) => /^s3:[A-Za-z]+$/.test(a))).toBe(true);
      expect(actions).toEqual(expect.arrayContaining(["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]));
      expect(actions.filter((a) => /CreateBucket|DeleteBucket|Policy|\*/.test(a))).toEqual([]);
    });

    it("network policies: deny by default; each pod may reach what it uses and be reached by what uses it", () => {
      const pods = new Map(podsOf(objects()).map((p) => [p.name, p.labels]));
      const deny = find(objects(), "NetworkPolicy", "default-deny").spec;
      expect(deny).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
      const coordinator = pods.get("coordinator")!;
      const minio = pods.get("minio")!;
      const prometheus = { "app.kubernetes.io/name": "prometheus" };
      for (const [name, labels] of pods) {
        // Everyone resolves names.
        const egress = rulesFor(objects(), labels, "egress");
        expect(egress.some((r) => r.ports.some((p) => p.port === 53 && p.protocol === "UDP")), `${name} DNS`).toBe(true);
        // Only MinIO's clients reach MinIO, and they all may.
        const toMinio = allowsPod(egress, minio, 9000);
        const client = labels["gap-lab/minio-client"] === "true";
        expect(toMinio, `${name} to MinIO`).toBe(client);
        if (client) expect(allowsPod(rulesFor(objects(), minio, "ingress"), labels, 9000), `MinIO from ${name}`).toBe(true);
      }
      for (const name of COMPUTE_SERVICES) {
        const labels = pods.get(name)!;
        const port = SERVICES[name].port;
        if (dir === "overlays/serverless") {
          // Calls come through Knative's namespaces.
          const from = rulesFor(objects(), labels, "ingress").flatMap((r) => r.peers).flatMap((p) => p.namespaceSelector?.matchExpressions?.flatMap((e) => e.values ?? []) ?? []);
          expect(from, name).toEqual(expect.arrayContaining(["knative-serving"]));
        } else {
          expect(allowsPod(rulesFor(objects(), labels, "ingress"), coordinator, port), `${name} from the coordinator`).toBe(true);
          expect(allowsPod(rulesFor(objects(), coordinator, "egress"), labels, port), `coordinator to ${name}`).toBe(true);
        }
        expect(allowsPod(rulesFor(objects(), labels, "ingress"), minio, port), `${name} from MinIO`).toBe(false);
        expect(allowsPod(rulesFor(objects(), labels, "egress"), coordinator, 50050), `${name} to the coordinator`).toBe(false);
      }
      // The experiment Job reaches the coordinator; Prometheus reaches every /metrics.
      const experiment = podTemplate(experimentJob).metadata.labels;
      expect(allowsPod(rulesFor(objects(), coordinator, "ingress"), experiment, SERVICES.coordinator.port)).toBe(true);
      for (const name of SERVICE_NAMES) {
        const ingress = rulesFor(objects(), pods.get(name)!, "ingress");
        expect(ingress.some((r) => r.ports.some((p) => p.port === CLUSTER_METRICS_PORT) && r.peers.some((p) => p.namespaceSelector && selects(p.podSelector, prometheus))), `${name} scraped`).toBe(true);
      }
      // MinIO talks to no one.
      expect(rulesFor(objects(), minio, "egress").filter((r) => !r.ports.every((p) => p.port === 53))).toEqual([]);
    });
  });

  describe.each(CLUSTERS)("%s", (dir) => {
    const objects = () => rendered[dir];

    it.each(SERVICE_NAMES)("%s: ports, probes and Service follow config.ts", (name) => {
      const { port, grpcService } = SERVICES[name];
      const deployment = find(objects(), "Deployment", name);
      const [container, ...others] = containersOf(deployment);
      expect(others).toEqual([]);
      expect(container.name).toBe(name);
      expect(container.args).toEqual([`services/${name}/src/main.ts`]);
      // The settings the service itself derives from this environment.
      const config = serviceConfigFromEnv(name, containerEnv(objects(), container));
      expect(config.port).toBe(port);
      expect(config.host).toBe("0.0.0.0");
      expect(config.metricsPort).toBe(CLUSTER_METRICS_PORT);
      expect(config.shutdownGraceMs).toBeLessThan((podSpec(deployment).terminationGracePeriodSeconds ?? 30) * 1000);
      expect(container.ports).toEqual([
        { name: "grpc", containerPort: port },
        { name: "metrics", containerPort: CLUSTER_METRICS_PORT },
      ]);
      // The native kernels' threads follow the pod's CPU limit, not the node's cores.
      if (name !== "coordinator") expect(container.env.find((v: { name: string }) => v.name === "OMP_NUM_THREADS")?.valueFrom).toEqual({ resourceFieldRef: { resource: "limits.cpu" } });
      // Start-up (backend and self-check) first; then liveness on the process, readiness on the service.
      expect(container.startupProbe.grpc).toEqual({ port });
      expect(container.startupProbe.periodSeconds * container.startupProbe.failureThreshold).toBeGreaterThanOrEqual(120);
      expect(container.readinessProbe.grpc).toEqual({ port, service: grpcService });
      expect(container.livenessProbe.grpc).toEqual({ port });
      expect(container.livenessProbe.initialDelaySeconds).toBeUndefined();
      const service = find(objects(), "Service", name);
      expect(service.spec.ports).toEqual([{ name: "grpc", port, targetPort: port }]);
      expect(selects({ matchLabels: service.spec.selector }, deployment.spec.template.metadata.labels)).toBe(true);
      if (name !== "coordinator") expect(service.spec.clusterIP, "headless, for client-side balancing").toBe("None");
    });

    it("the coordinator reaches every replica of each compute service through its headless Service", () => {
      const coordinator = containersOf(find(objects(), "Deployment", "coordinator"))[0];
      const env = containerEnv(objects(), coordinator);
      coordinatorConfigFromEnv(env);
      for (const name of COMPUTE_SERVICES) {
        const value = env[addressesEnvVar(name)];
        expect(value, addressesEnvVar(name)).toBeTruthy();
        for (const address of value!.split(",")) {
          const [host, portText] = address.trim().split(":");
          const service = find(objects(), "Service", host!);
          expect(service.spec.clusterIP).toBe("None");
          expect(selects({ matchLabels: service.spec.selector }, find(objects(), "Deployment", name).spec.template.metadata.labels)).toBe(true);
          expect(Number(portText)).toBe(SERVICES[name].port);
        }
      }
    });

    it("every compute Deployment has a PodDisruptionBudget; the single coordinator has none", () => {
      const budgets = byKind(objects(), "PodDisruptionBudget");
      for (const deployment of byKind(objects(), "Deployment")) {
        const matching = budgets.filter((b) => selects(b.spec.selector, deployment.spec.template.metadata.labels));
        expect(matching.map((b) => b.metadata.name), deployment.metadata.name).toEqual(deployment.metadata.name === "coordinator" ? [] : [deployment.metadata.name]);
      }
      expect(find(objects(), "Deployment", "coordinator").spec.replicas).toBe(1);
    });

    it("every pod runs as non-root on a read-only root filesystem, with requests and limits", () => {
      for (const workload of workloads(objects())) {
        const spec = podSpec(workload);
        expect(spec.securityContext.runAsNonRoot, workload.metadata.name).toBe(true);
        expect(spec.securityContext.runAsUser).toBeGreaterThan(0);
        for (const container of spec.containers) {
          const where = `${workload.metadata.name}/${container.name}`;
          expect(container.securityContext, where).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
          for (const kind of ["requests", "limits"]) {
            expect(container.resources?.[kind]?.cpu, `${where} ${kind}.cpu`).toBeDefined();
            expect(container.resources?.[kind]?.memory, `${where} ${kind}.memory`).toBeDefined();
          }
          // tsx compiles into the temporary directory, which must be writable.
          if (OUR_IMAGES.has(imageName(container.image))) expect(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain("/tmp");
        }
      }
    });

    it("GPU: training and attack ask for one on GPU nodes with the GPU image; everything else runs wasm + oneDNN", () => {
      const gpuCluster = dir !== "overlays/local";
      for (const deployment of byKind(objects(), "Deployment")) {
        const name = deployment.metadata.name;
        const [container] = containersOf(deployment);
        const onGpu = gpuCluster && (name === "training" || name === "attack");
        expect(container.resources.limits[GPU] ?? 0, name).toBe(onGpu ? 1 : 0);
        expect(container.resources.requests[GPU] ?? 0, name).toBe(onGpu ? 1 : 0);
        expect(podSpec(deployment).nodeSelector, name).toEqual(onGpu ? { "nvidia.com/gpu.present": "true" } : undefined);
        expect(imageName(container.image), name).toBe(onGpu ? "gap-lab-gpu" : "gap-lab");
        const backend = parseBackendChoice(containerEnv(objects(), container)[ENV.backend]);
        if (name !== "coordinator") expect(backend, name).toBe(onGpu ? "tensorflow-gpu" : "wasm");
      }
    });
  });

  it("local runs one replica of everything; gpu-cluster runs more than the base", () => {
    const replicas = (dir: Rendering, name: string) => find(rendered[dir], "Deployment", name).spec.replicas as number;
    for (const name of SERVICE_NAMES) expect(replicas("overlays/local", name), name).toBe(1);
    for (const name of COMPUTE_SERVICES) expect(replicas("overlays/gpu-cluster", name), name).toBeGreaterThanOrEqual(replicas("base", name));
    expect(replicas("overlays/gpu-cluster", "training")).toBeGreaterThan(replicas("base", "training"));
    expect(replicas("overlays/gpu-cluster", "coordinator")).toBe(1);
    // Enough concurrent steps for every training and attack replica.
    const env = containerEnv(rendered["overlays/gpu-cluster"], containersOf(find(rendered["overlays/gpu-cluster"], "Deployment", "coordinator"))[0]);
    expect(coordinatorConfigFromEnv(env).concurrency).toBeGreaterThanOrEqual(replicas("overlays/gpu-cluster", "training") + replicas("overlays/gpu-cluster", "attack"));
    const storage = (dir: Rendering) => find(rendered[dir], "StatefulSet", "minio").spec.volumeClaimTemplates[0].spec.resources.requests.storage;
    expect(storage("overlays/local")).toBe("5Gi");
  });

  describe.skipIf(!SERVERLESS)("overlays/serverless", () => {
    const objects = () => rendered["overlays/serverless"];

    it("the compute services are Knative Services and nothing else; the coordinator and MinIO stay", () => {
      expect(knativeServices(objects()).map((s) => s.metadata.name).sort()).toEqual([...COMPUTE_SERVICES].sort());
      for (const name of COMPUTE_SERVICES) {
        expect(objects().filter((o) => o.kind === "Deployment" && o.metadata.name === name), name).toEqual([]);
        expect(objects().filter((o) => o.kind === "PodDisruptionBudget" && o.metadata.name === name), name).toEqual([]);
        expect(coreService(objects(), name), name).toBeUndefined();
      }
      expect(find(objects(), "Deployment", "coordinator").spec.replicas).toBe(1);
      expect(coreService(objects(), "coordinator")).toBeDefined();
      expect(find(objects(), "StatefulSet", "minio")).toBeDefined();
    });

    it.each(COMPUTE_SERVICES)("%s: a valid pod spec, one call per replica, from zero to a maximum, probes and port as config.ts says", (name) => {
      const service = knativeServices(objects()).find((s) => s.metadata.name === name)!;
      const template = service.spec.template;
      // The revision's pod spec without Knative's own fields, against Kubernetes' PodSpec.
      const spec = Object.fromEntries(Object.entries(template.spec).filter(([key]) => !KNATIVE_REVISION_FIELDS.includes(key)));
      expect(schemaProblems({ apiVersion: "v1", kind: "Pod", metadata: { name }, spec })).toEqual([]);
      expect(service.metadata.labels!["networking.knative.dev/visibility"], "reachable inside the cluster only").toBe("cluster-local");
      expect(template.spec.containerConcurrency).toBe(1);
      const annotations = template.metadata.annotations;
      expect(annotations["autoscaling.knative.dev/min-scale"]).toBe("0");
      expect(Number(annotations["autoscaling.knative.dev/max-scale"])).toBeGreaterThanOrEqual(1);
      const [container, ...others] = template.spec.containers;
      expect(others).toEqual([]);
      const { port, grpcService } = SERVICES[name];
      const env = containerEnv(objects(), container);
      const config = serviceConfigFromEnv(name, env);
      expect(config.port).toBe(port);
      expect(config.metricsPort).toBe(CLUSTER_METRICS_PORT);
      expect(config.queueLimit, "no line behind the running call: Knative scales out instead").toBe(0);
      // Knative leaves resourceFieldRef off by default: the threads are written out, equal to the CPU limit.
      expect(env.OMP_NUM_THREADS, "threads = the CPU limit").toBe(String(container.resources.limits.cpu));
      // Knative: one port, named for cleartext HTTP/2; probes on it; no startupProbe (Knative before 1.15 refuses one).
      expect(container.ports).toEqual([{ name: "h2c", containerPort: port }]);
      expect(container.readinessProbe.grpc).toEqual({ port, service: grpcService });
      expect(container.livenessProbe.grpc).toEqual({ port });
      expect(container.startupProbe).toBeUndefined();
      expect(template.spec.securityContext, "pod-level securityContext needs a Knative feature flag").toBeUndefined();
      expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
      expect(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain("/tmp");
      expect(template.metadata.labels["gap-lab/minio-client"]).toBe("true");
      const onGpu = name === "training" || name === "attack";
      expect(container.resources.limits[GPU] ?? 0).toBe(onGpu ? 1 : 0);
      expect(imageName(container.image)).toBe(onGpu ? "gap-lab-gpu" : "gap-lab");
      expect(parseBackendChoice(env[ENV.backend])).toBe(onGpu ? "tensorflow-gpu" : "wasm");
      // Timeouts for long streaming calls: heartbeats keep a call from idling out, and the
      // coordinator ends a call (and retries it from its checkpoint) before Knative would.
      const coordinator = coordinatorConfigFromEnv(containerEnv(objects(), containersOf(find(objects(), "Deployment", "coordinator"))[0]));
      expect(template.spec.idleTimeoutSeconds * 1000).toBeGreaterThanOrEqual(10 * HEARTBEAT_MS);
      expect(template.spec.responseStartTimeoutSeconds).toBeLessThanOrEqual(template.spec.timeoutSeconds);
      expect(coordinator.callTimeoutMs).toBeGreaterThan(0);
      expect(coordinator.callTimeoutMs).toBeLessThan(template.spec.timeoutSeconds * 1000);
      expect(coordinator.silenceLimitMs, "a cold start is not silence").toBeGreaterThanOrEqual(template.spec.responseStartTimeoutSeconds * 1000);
      expect(coordinator.retryBudgetMs).toBeGreaterThan(coordinator.silenceLimitMs);
    });

    it("the coordinator calls each service by its cluster-local Knative name, with enough steps at once for its maximum replicas", () => {
      const env = containerEnv(objects(), containersOf(find(objects(), "Deployment", "coordinator"))[0]);
      for (const name of COMPUTE_SERVICES) expect(env[addressesEnvVar(name)], name).toBe(`${name}.${NAMESPACE}.svc.cluster.local:80`);
      const maxScale = (name: string) => Number(knativeServices(objects()).find((s) => s.metadata.name === name)!.spec.template.metadata.annotations["autoscaling.knative.dev/max-scale"]);
      expect(coordinatorConfigFromEnv(env).concurrency).toBeGreaterThanOrEqual(maxScale("training") + maxScale("attack"));
    });
  });

  describe("overlays/monitoring", () => {
    const monitors = () => byKind(rendered["overlays/monitoring"], "PodMonitor");

    it("scrapes /metrics of the coordinator and every compute pod, by port name on Deployments", () => {
      const monitor = monitors().find((m) => m.metadata.name === "gap-lab")!;
      for (const dir of ["overlays/local", "overlays/gpu-cluster"] as const) {
        const scraped = podsOf(rendered[dir]).filter((p) => selects(monitor.spec.selector, p.labels)).map((p) => p.name);
        expect(scraped.sort(), dir).toEqual([...SERVICE_NAMES].sort());
        for (const name of scraped) {
          const ports = containersOf(find(rendered[dir], "Deployment", name))[0].ports;
          for (const endpoint of monitor.spec.podMetricsEndpoints) expect(ports, name).toContainEqual({ name: endpoint.port, containerPort: CLUSTER_METRICS_PORT });
        }
        expect(podsOf(rendered[dir]).filter((p) => selects(monitors().find((m) => m.metadata.name === "gap-lab-knative")!.spec.selector, p.labels))).toEqual([]);
      }
      expect(monitor.spec.podMetricsEndpoints.map((e: { path: string }) => e.path)).toEqual(["/metrics"]);
    });

    it.skipIf(!SERVERLESS)("scrapes the Knative revisions' pods on the metrics port they may not declare", () => {
      const monitor = monitors().find((m) => m.metadata.name === "gap-lab-knative")!;
      const serverless = rendered["overlays/serverless"];
      const scraped = podsOf(serverless).filter((p) => selects(monitor.spec.selector, p.labels)).map((p) => p.name);
      expect(scraped.sort()).toEqual([...COMPUTE_SERVICES].sort());
      expect(podsOf(serverless).filter((p) => selects(monitors().find((m) => m.metadata.name === "gap-lab")!.spec.selector, p.labels)).map((p) => p.name)).toEqual(["coordinator"]);
      const [endpoint] = monitor.spec.podMetricsEndpoints;
      const keep = endpoint.relabelings.find((r: { action: string }) => r.action === "keep");
      for (const name of COMPUTE_SERVICES) expect(new RegExp(`^(?:${keep.regex})$`).test(name), name).toBe(true);
      expect(new RegExp(`^(?:${keep.regex})$`).test("queue-proxy")).toBe(false);
      const address = endpoint.relabelings.find((r: { targetLabel?: string }) => r.targetLabel === "__address__");
      expect(address.replacement).toBe(`$1:${CLUSTER_METRICS_PORT}`);
    });
  });

  it("experiment: a Job named anew for each run, removed a while after it ends, that calls the coordinator with a valid spec", () => {
    const job = experimentJob;
    expect(schemaProblems(job)).toEqual([]);
    expect(job.kind).toBe("Job");
    expect(job.metadata.name).toBeUndefined();
    expect(job.metadata.generateName).toBe("experiment-");
    expect(job.metadata.namespace).toBe(NAMESPACE);
    expect(job.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
    for (const label of RECOMMENDED) expect(podTemplate(job).metadata.labels[label], label).toBeTruthy();
    const [container] = containersOf(job);
    expect(OUR_IMAGES.has(imageName(container.image))).toBe(true);
    // `gap run`: the experiment CLI's command that runs a spec.
    expect(container.args).toEqual(["services/coordinator/src/cli.ts", "run"]);
    expect(existsSync(join(REPO_ROOT, container.args[0]))).toBe(true);
    const env = Object.fromEntries(container.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(Object.keys(env).filter((name) => !KNOWN_ENV.has(name))).toEqual([]);
    const [host, port] = env.GAP_COORDINATOR_ADDRESS!.split(":");
    expect(coreService(rendered.base, host!)?.spec.ports[0].port).toBe(Number(port));
    expect(Number(port)).toBe(SERVICES.coordinator.port);
    // GAP_SPEC carries the spec's YAML itself.
    expect(env.GAP_SPEC).toContain("\n");
    const spec = validateSpec(loadSpec(env.GAP_SPEC!));
    expect(spec.architectures.length).toBeGreaterThan(0);
  });
});
