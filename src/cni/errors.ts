// CNI error codes (spec §"Error"). 0-99 are reserved by the spec; 100+ are ours.
export const ErrCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnv: 4,
  IOFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  NotAvailableDegraded: 51,
  // tsbridge-specific
  Internal: 100,
  RangeExhausted: 101,
  AddressInUse: 102,
  PortInUse: 103,
  CheckFailed: 104,
  NetlinkFailure: 105,
  FirewallFailure: 106,
  DelegateFailure: 107,
} as const;

/** An error that reaches the runtime as CNI error JSON on stdout. */
export class CniError extends Error {
  constructor(
    public readonly code: number,
    msg: string,
    public readonly details = '',
  ) {
    super(msg);
    this.name = 'CniError';
  }
}

/** The spec's error object; `cniVersion` is the config's version when known (the reference omits it). */
export function errorJson(
  err: unknown,
  cniVersion: string,
): { cniVersion: string; code: number; msg: string; details?: string } {
  if (err instanceof CniError) {
    return { cniVersion, code: err.code, msg: err.message, ...(err.details ? { details: err.details } : {}) };
  }
  const e = err as { message?: string };
  return { cniVersion, code: ErrCode.Internal, msg: 'internal error: ' + (e?.message ?? String(err)) };
}
