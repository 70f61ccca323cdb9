// The doctor's part of `tsbridge help` (kept apart so help loads no kernel code).
export const DOCTOR_HELP = `
Troubleshooting (root, on the node; see docs/troubleshooting.md):
  tsbridge doctor        walk each container's path (IPAM record, netns, container interface,
                         host veth, bridge, node routes, forwarding, FORWARD filter, NAT) and
                         name the first broken piece with the command that repairs it
      --config FILE            the network's conflist or conf     --network NAME  look it up in
      --conf-dir DIR           (default /etc/cni/net.d; default network: the first tsbridge one there)
      --container ID [--ifname NAME] | --ip ADDR | --netns PATH   one container (default: every
                               attachment in the IPAM store); --netns also names the namespace
      --probe                  ping the gateway, another container on the bridge and --to from the
                               container, and report where the packets were last seen (counters)
      --to ADDR[,ADDR]         destinations for --probe (only these, the gateway and the peer are pinged)
      --count N                pings per probe (default 3)
      --fix                    repair what tsbridge owns (its rules, veth on the bridge, links up,
                               bridge address, container address/routes, forwarding); prints each change
      --json                   machine-readable report       --cache-dir DIR   libcni cache (/var/lib/cni)
      exit status: 0 healthy, 1 problems found, 2 usage error
`;
