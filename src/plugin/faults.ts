// Fault injection for the reliability tests: TSBRIDGE_FAULT=<point> makes this process SIGKILL
// itself when it reaches that point of ADD, as a node crash or an OOM kill would. It can only hurt
// the invocation that asked for it, so it is safe to leave in the shipped binary.
export type FaultPoint = 'after-ipam' | 'after-bridge' | 'after-veth' | 'after-container' | 'after-rules';

export function faultPoint(point: FaultPoint): void {
  if (process.env.TSBRIDGE_FAULT === point) process.kill(process.pid, 'SIGKILL');
}
