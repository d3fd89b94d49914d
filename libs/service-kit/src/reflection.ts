import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import type { Server } from "@grpc/grpc-js";

/** Server reflection over our files (and their imports) plus grpc.health.v1. */
export function addReflection(server: Server, files: readonly DescFile[]): void {
  const encoded = new Map<string, Buffer>();
  const visit = (file: DescFile) => {
    if (encoded.has(file.proto.name)) return;
    encoded.set(file.proto.name, Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
    file.dependencies.forEach(visit);
  };
  files.forEach(visit);
  const health = loadSync(healthProtoPath);
  // ReflectionService reads `fileDescriptorProtos` from each entry of a proto-loader package definition.
  const packageDefinition = { ...health, "gap.files": { fileDescriptorProtos: [...encoded.values()] } };
  new ReflectionService(packageDefinition as never).addToServer(server);
}
