import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";

// s3rver ships no types.
const S3rver = createRequire(import.meta.url)("s3rver") as new (options: object) => {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
};

/** A real S3-protocol server on 127.0.0.1 and a free port, in a temp directory. */
export async function startS3rver() {
  const directory = mkdtempSync(join(tmpdir(), "gap-s3rver-"));
  let server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory });
  const { port } = await server.run();
  return {
    directory,
    env: {
      MINIO_ENDPOINT: `http://127.0.0.1:${port}`,
      MINIO_ACCESS_KEY: "S3RVER",
      MINIO_SECRET_KEY: "S3RVER",
      MINIO_BUCKET: "gap-test",
    },
    /** Stops answering (the port closes), keeping the data. */
    async pause() {
      await server.close();
    },
    /** Answers again on the same port, with the same data. */
    async resume() {
      server = new S3rver({ address: "127.0.0.1", port, silent: true, directory });
      await server.run();
    },
    async stop() {
      await server.close().catch(() => {});
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
