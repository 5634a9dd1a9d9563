// Named errors at the engine's boundary; each message says what the user can do about it.

export class EngineError extends Error {
  constructor(message, { cause } = {}) {
    super(message, { cause });
    this.name = this.constructor.name;
  }
}

/** A shard's bytes do not hash to the manifest's sha256. */
export class IntegrityError extends EngineError {}

/** The host could not deliver a manifest or shard. */
export class DownloadError extends EngineError {}

/** The backend could not load the model. */
export class ModelLoadError extends EngineError {}

/** A request the engine cannot serve (bad parameters, prompt too long). */
export class RequestError extends EngineError {}

/** A JSON schema asks for something constrained output cannot guarantee; the message names it. */
export class UnsupportedSchemaError extends RequestError {}

/** A request names a model the host does not have. */
export class ModelNotFoundError extends RequestError {}

/** The engine failed while running (a kernel, the backend): not the request's fault. */
export class BackendError extends EngineError {}

/** The GPU device was lost or raised an error; the engine falls back to the WASM backend. */
export class DeviceLostError extends BackendError {}

/** The model cannot run on this device (limits, missing features); another backend may run it. */
export class ModelTooLargeError extends ModelLoadError {}

/** The remote tier (the host's proxy, or the server behind it) refused or failed a request. */
export class RemoteError extends EngineError {
  constructor(message, { status, cause } = {}) {
    super(message, { cause });
    this.status = status;
  }
}
