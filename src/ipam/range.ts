// Address arithmetic for allocation ranges: the next and previous address.
import { CniError, ErrCode } from '../cni/errors';
import { familyBits, IP, ipToString } from '../ip/addr';

/** ip + n; throws when the result leaves the family's address space. */
export function addIP(ip: IP, n: bigint): IP {
  const value = ip.value + n;
  if (value < 0n || value >> BigInt(familyBits(ip.family)) !== 0n) {
    throw new CniError(ErrCode.InvalidConfig, `${ipToString(ip)} + ${n} is outside the IPv${ip.family} space`);
  }
  return { family: ip.family, value };
}
