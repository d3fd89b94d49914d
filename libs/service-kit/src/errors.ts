import { status, type StatusObject, Metadata } from "@grpc/grpc-js";

/** gRPC status codes by name, for comparing and setting codes without bare numbers. */
export { status };

/** An error that carries the gRPC status it should be reported with. */
export class ServiceError extends Error {
  constructor(
    readonly code: status,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

export const invalidArgument = (field: string, problem: string) =>
  new ServiceError(status.INVALID_ARGUMENT, `${field}: ${problem}`, field);
export const notFound = (message: string) => new ServiceError(status.NOT_FOUND, message);
export const failedPrecondition = (message: string) => new ServiceError(status.FAILED_PRECONDITION, message);
export const resourceExhausted = (message: string) => new ServiceError(status.RESOURCE_EXHAUSTED, message);
export const cancelled = (message = "call cancelled") => new ServiceError(status.CANCELLED, message);
/** A call cut short by its server going away: the caller may retry it, on another replica where there is one. */
export const unavailable = (message: string) => new ServiceError(status.UNAVAILABLE, message);

/**
 * Errors from the libs keep their own classes (they know nothing of gRPC);
 * their names say which status they map to.
 */
const STATUS_BY_ERROR_NAME: Record<string, status> = {
  ArtifactNotFoundError: status.NOT_FOUND,
  InvalidArtifactKeyError: status.INVALID_ARGUMENT,
  ArtifactIntegrityError: status.DATA_LOSS,
  StoreUnavailableError: status.UNAVAILABLE,
  StoreAccessError: status.FAILED_PRECONDITION,
  ShapeMismatchError: status.FAILED_PRECONDITION,
  DatasetError: status.FAILED_PRECONDITION,
  AbortError: status.CANCELLED,
};

/** The status a failed call reports. Unknown errors become INTERNAL with their message. */
export function toStatus(error: unknown): Partial<StatusObject> {
  if (error instanceof ServiceError) return { code: error.code, details: error.message, metadata: new Metadata() };
  if (error instanceof Error) {
    const code = STATUS_BY_ERROR_NAME[error.name] ?? status.INTERNAL;
    return { code, details: error.message, metadata: new Metadata() };
  }
  return { code: status.INTERNAL, details: String(error), metadata: new Metadata() };
}
