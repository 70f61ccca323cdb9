// The last step of every command: whatever a lower layer threw, as the CNI error the runtime reads.
// Here, not in cni/ (which imports nothing of ours): it knows the netlink layer's error.
import { CniError, ErrCode } from '../cni/errors';
import { NetlinkError } from '../netlink/socket';

/** Anything thrown below the CNI layer, as a CNI error: netlink failures 105, file-system errors 5. */
export function asCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof NetlinkError) return new CniError(ErrCode.NetlinkFailure, e.message);
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code === 'string' && err.code.startsWith('E')) return new CniError(ErrCode.IOFailure, err.message);
  return new CniError(ErrCode.Internal, err?.message ?? String(e));
}
