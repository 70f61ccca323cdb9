// Complete, synchronous writes to stdout and stderr. process.stdout/stderr are streams: creating
// one costs Bun milliseconds and megabytes per invocation, and a stream may still hold data when
// the process exits. Here every byte is in the kernel before the call returns, so exiting right
// after can lose nothing. A non-blocking pipe that is full (EAGAIN) is waited on, up to a bound.
import { fs } from './lazy-fs';

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** How long a full non-blocking pipe may stall us before the write fails (ms). */
const MAX_STALL_MS = 30_000;

export function writeFully(fd: number, data: string | Uint8Array): void {
  let buf = typeof data === 'string' ? Buffer.from(data) : data;
  let stalled = 0;
  while (buf.length > 0) {
    try {
      buf = buf.subarray(fs().writeSync(fd, buf));
      stalled = 0;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' || stalled >= MAX_STALL_MS) throw e;
      Atomics.wait(sleeper, 0, 0, 1);
      stalled++;
    }
  }
}
