// Renders deploy/k8s with `kubectl kustomize` and checks the result against the config
// the services read (libs/service-kit/src/config.ts and the readers behind it), and every
// object against the Kubernetes OpenAPI schemas.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3ConfigFromEnv } from "@gap/artifacts";
import { loadSpec, validateSpec } from "@gap/coordinator";
import { parseBackendChoice } from "@gap/ml-core";
import { addressesEnvVar, CLI_ENV, COMPUTE_SERVICES, ENV, serviceConfigFromEnv, SERVICES, type ServiceName } from "@gap/service-kit";
import { byKind, find, findKubectl, K8S_DIR, REPO_ROOT, render, schemaProblems, selects, type K8sObject } from "./support.js";

/** Variables the manifests set that config.ts does not list, and the file that reads each. */
const OTHER_ENV: Record<string, string> = {
  GAP_CACHE_DIR: "libs/ml-core/src/data/cifar10.ts",
  GAP_CONCURRENCY: "services/coordinator/src/main.ts",
};
const KNOWN_ENV = new Set<string>([...Object.values(ENV), ...Object.values(CLI_ENV), ...COMPUTE_SERVICES.map(addressesEnvVar), ...Object.keys(OTHER_ENV)]);
/** The images deploy/docker/Dockerfile builds (targets cpu and gpu). */
const OUR_IMAGES = new Set(["gap-lab", "gap-lab-gpu"]);
const GPU = "nvidia.com/gpu";
const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];
const NAMESPACE = "gap-lab";

const { kubectl, reason } = findKubectl();
if (!kubectl) console.warn(`deploy: skipping the manifest tests: ${reason}`);
const CLUSTERS = ["base", "overlays/local", "overlays/gpu-cluster"] as const;
const ALL = [...CLUSTERS, "experiment"] as const;
type Rendering = (typeof ALL)[number];

/** Containers are plain data from YAML, walked as such. */
type Container = any;

const imageName = (image: string) => basename(image.split("@")[0]!).split(":")[0]!;
const podSpec = (o: K8sObject) => o.spec.template.spec;
const containersOf = (o: K8sObject): Container[] => podSpec(o).containers;
const workloads = (objects: K8sObject[]) => objects.filter((o) => ["Deployment", "StatefulSet", "Job"].includes(o.kind));

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

describe.skipIf(!kubectl)(`deploy/k8s rendered with kubectl kustomize${kubectl ? "" : ` (skipped: ${reason})`}`, () => {
  const rendered = {} as Record<Rendering, K8sObject[]>;
  let specDir: string;

  beforeAll(() => {
    for (const dir of ALL) {
      const { objects, warnings } = render(kubectl!, join(K8S_DIR, dir));
      expect(warnings, `kubectl kustomize ${dir} stderr`).toEqual([]);
      rendered[dir] = objects;
    }
    specDir = mkdtempSync(join(tmpdir(), "gap-deploy-spec-"));
  });
  afterAll(() => rmSync(specDir, { recursive: true, force: true }));

  it.each(ALL)("%s: every object is valid against the Kubernetes OpenAPI schemas", (dir) => {
    const objects = rendered[dir];
    expect(objects.length).toBeGreaterThan(0);
    const problems = objects.flatMap((o) => schemaProblems(o).map((p) => `${o.kind}/${o.metadata.name}: ${p}`));
    expect(problems).toEqual([]);
    for (const o of objects) if (o.kind !== "Namespace") expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(NAMESPACE);
  });

  it.each(ALL)("%s: every variable set on a GAP Lab container is one the code reads", (dir) => {
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

  describe.each(CLUSTERS)("%s", (dir) => {
    const objects = () => rendered[dir];

    it.each(SERVICE_NAMES)("%s: port, probes and Service follow config.ts", (name) => {
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
      expect(config.shutdownGraceMs).toBeLessThan((podSpec(deployment).terminationGracePeriodSeconds ?? 30) * 1000);
      expect(container.ports).toEqual([{ name: "grpc", containerPort: port }]);
      expect(container.readinessProbe.grpc).toEqual({ port, service: grpcService });
      expect(container.livenessProbe.grpc.port).toBe(port);
      expect(container.livenessProbe.grpc.service ?? "").toBe("");
      const service = find(objects(), "Service", name);
      expect(service.spec.ports).toEqual([{ name: "grpc", port, targetPort: port }]);
      expect(selects({ matchLabels: service.spec.selector }, deployment.spec.template.metadata.labels)).toBe(true);
      if (name !== "coordinator") expect(service.spec.clusterIP, "headless, for client-side balancing").toBe("None");
    });

    it("the coordinator reaches every replica of each compute service through its headless Service", () => {
      const coordinator = containersOf(find(objects(), "Deployment", "coordinator"))[0];
      const env = containerEnv(objects(), coordinator);
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

    it("every service reaches MinIO with the settings the artifact store reads", () => {
      const minio = find(objects(), "StatefulSet", "minio");
      const minioPort = containersOf(minio)[0].ports[0].containerPort;
      for (const name of SERVICE_NAMES) {
        const env = containerEnv(objects(), containersOf(find(objects(), "Deployment", name))[0]);
        const s3 = s3ConfigFromEnv(env);
        const service = find(objects(), "Service", s3.endPoint);
        expect(selects({ matchLabels: service.spec.selector }, minio.spec.template.metadata.labels)).toBe(true);
        expect(s3.port).toBe(minioPort);
        expect(service.spec.ports.map((p: { port: number }) => p.port)).toContain(minioPort);
        expect(s3.bucket).toBe(env[ENV.minioBucket]);
      }
      // MinIO's root credentials are the services' keys.
      const minioEnv = containersOf(minio)[0].env;
      const fromSecret = (variable: string) => minioEnv.find((e: { name: string }) => e.name === variable).valueFrom.secretKeyRef;
      expect(fromSecret("MINIO_ROOT_USER")).toEqual({ name: "minio-credentials", key: ENV.minioAccessKey });
      expect(fromSecret("MINIO_ROOT_PASSWORD")).toEqual({ name: "minio-credentials", key: ENV.minioSecretKey });
      expect(minio.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
      expect(containersOf(find(objects(), "Job", "minio-make-bucket"))[0].args[0]).toContain("mb --ignore-existing");
    });

    it("network policies: only the coordinator reaches the compute services, only the services reach MinIO", () => {
      const policies = byKind(objects(), "NetworkPolicy");
      const pods = workloads(objects()).map((w) => ({ name: w.metadata.name, labels: w.spec.template.metadata.labels as Record<string, string> }));
      const computePolicy = find(objects(), "NetworkPolicy", "compute-from-coordinator").spec;
      expect(pods.filter((p) => selects(computePolicy.podSelector, p.labels)).map((p) => p.name).sort()).toEqual([...COMPUTE_SERVICES].sort());
      expect(computePolicy.ingress).toHaveLength(1);
      const [rule] = computePolicy.ingress;
      expect(rule.from).toHaveLength(1);
      expect(pods.filter((p) => selects(rule.from[0].podSelector, p.labels)).map((p) => p.name)).toEqual(["coordinator"]);
      expect(rule.ports.map((p: { port: number }) => p.port).sort()).toEqual(COMPUTE_SERVICES.map((n) => SERVICES[n].port).sort());

      const minioPolicy = find(objects(), "NetworkPolicy", "minio-from-services").spec;
      expect(pods.filter((p) => selects(minioPolicy.podSelector, p.labels)).map((p) => p.name)).toEqual(["minio"]);
      const clients = pods.filter((p) => minioPolicy.ingress[0].from.some((f: { podSelector: never }) => selects(f.podSelector, p.labels)));
      expect(clients.map((p) => p.name).sort()).toEqual([...SERVICE_NAMES, "minio-make-bucket"].sort());
      expect(minioPolicy.ingress[0].ports).toEqual([{ protocol: "TCP", port: 9000 }]);
      expect(policies.every((p) => p.spec.policyTypes?.includes("Ingress"))).toBe(true);
    });

    it("every Deployment has a PodDisruptionBudget", () => {
      const budgets = byKind(objects(), "PodDisruptionBudget");
      for (const deployment of byKind(objects(), "Deployment")) {
        const matching = budgets.filter((b) => selects(b.spec.selector, deployment.spec.template.metadata.labels));
        expect(matching.map((b) => b.metadata.name), deployment.metadata.name).toEqual([deployment.metadata.name]);
      }
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

    it("GPU: training and attack ask for one on GPU nodes with the GPU image; nothing else does", () => {
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
        if (name !== "coordinator") expect(backend, name).toBe(onGpu ? "tensorflow-gpu" : "tensorflow");
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
    const concurrency = Number(containerEnv(rendered["overlays/gpu-cluster"], containersOf(find(rendered["overlays/gpu-cluster"], "Deployment", "coordinator"))[0]).GAP_CONCURRENCY);
    expect(concurrency).toBeGreaterThanOrEqual(replicas("overlays/gpu-cluster", "training") + replicas("overlays/gpu-cluster", "attack"));
    const storage = (dir: Rendering) => find(rendered[dir], "StatefulSet", "minio").spec.volumeClaimTemplates[0].spec.resources.requests.storage;
    expect(storage("overlays/local")).toBe("5Gi");
  });

  it("experiment: a Job that calls the coordinator with a valid spec from a ConfigMap", () => {
    const objects = rendered.experiment;
    const job = find(objects, "Job", "experiment");
    const [container] = containersOf(job);
    const env = containerEnv(objects, container);
    const [host, port] = env.GAP_COORDINATOR_ADDRESS!.split(":");
    const coordinatorService = find(rendered.base, "Service", host!);
    expect(coordinatorService.spec.ports[0].port).toBe(Number(port));
    expect(Number(port)).toBe(SERVICES.coordinator.port);
    // GAP_SPEC names a file of the mounted ConfigMap.
    const specPath = env.GAP_SPEC!;
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === dirname(specPath));
    const volume = podSpec(job).volumes.find((v: { name: string }) => v.name === mount.name);
    const specText = find(objects, "ConfigMap", volume.configMap.name).data![basename(specPath)];
    expect(specText).toBeDefined();
    const file = join(specDir, basename(specPath));
    writeFileSync(file, specText!);
    const spec = validateSpec(loadSpec(file));
    expect(spec.architectures.length).toBeGreaterThan(0);
  });
});
