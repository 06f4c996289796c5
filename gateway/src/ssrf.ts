// Which addresses the gateway may call for a webhook (SSRF policy, docs/gateway.md "Webhooks").
//
// A webhook URL is chosen by whoever holds a client key, and the gateway POSTs job outputs to it from
// inside the cluster. By default only public unicast addresses are called: loopback, RFC 1918 private,
// link-local (169.254.0.0/16 holds the cloud metadata services), CGNAT, unique-local, multicast,
// documentation and other special-purpose ranges (IANA registries) are refused. Operators with in-cluster
// receivers name CIDRs that are allowed anyway (LONGSHORE_WEBHOOK_ALLOW_CIDRS).
//
// The check is on the resolved address that the socket connects to: webhooks.ts hands `lookup` below to
// http.request, so the addresses checked are exactly the ones net.connect uses (no second resolution a
// DNS-rebinding name could answer differently). IP-literal hosts skip lookup in node, so they are checked
// before the request. Redirects are not followed.
//
// node's net.BlockList instead of a library (ipaddr.js): it is built in, matches IPv4-mapped IPv6
// (::ffff:a.b.c.d) against IPv4 rules, and the ranges are a short, reviewable list.
import * as dns from "dns";
import * as net from "net";

const DENY_V4 = [
  "0.0.0.0/8", // "this network"
  "10.0.0.0/8", // private
  "100.64.0.0/10", // carrier-grade NAT
  "127.0.0.0/8", // loopback
  "169.254.0.0/16", // link-local, cloud metadata (169.254.169.254)
  "172.16.0.0/12", // private
  "192.0.0.0/24", // IETF protocol assignments
  "192.0.2.0/24", // documentation
  "192.88.99.0/24", // 6to4 relay anycast
  "192.168.0.0/16", // private
  "198.18.0.0/15", // benchmarking
  "198.51.100.0/24", // documentation
  "203.0.113.0/24", // documentation
  "224.0.0.0/4", // multicast
  "240.0.0.0/4", // reserved, broadcast
];
const DENY_V6 = [
  "::/128", // unspecified
  "::1/128", // loopback
  "64:ff9b::/96", // NAT64 (embeds an IPv4 address)
  "64:ff9b:1::/48", // local NAT64
  "100::/64", // discard
  "2001::/23", // IETF protocol assignments (Teredo etc.)
  "2001:db8::/32", // documentation
  "2002::/16", // 6to4 (embeds an IPv4 address)
  "fc00::/7", // unique-local (fd00:ec2::254 is AWS's metadata address)
  "fe80::/10", // link-local
  "fec0::/10", // site-local (deprecated)
  "ff00::/8", // multicast
];

function blockList(cidrs: string[]): net.BlockList {
  const b = new net.BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split("/");
    const type = net.isIP(addr) === 6 ? "ipv6" : "ipv4";
    b.addSubnet(addr, bits === undefined ? (type === "ipv4" ? 32 : 128) : Number(bits), type);
  }
  return b;
}

const DENY = blockList([...DENY_V4, ...DENY_V6]);

/** ::ffff:a.b.c.d -> a.b.c.d; anything else unchanged. */
function unmap(addr: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? m[1] : addr;
}

export class WebhookTargetPolicy {
  private readonly allow: net.BlockList;
  constructor(readonly allowCidrs: string[] = []) {
    this.allow = blockList(allowCidrs);
  }

  /** Why `address` (an IP) may not be called, or undefined when it may. */
  addressProblem(address: string): string | undefined {
    const a = unmap(address);
    const type = net.isIP(a) === 6 ? "ipv6" : net.isIP(a) === 4 ? "ipv4" : undefined;
    if (!type) return `${address} is not an IP address`;
    if (this.allow.check(a, type)) return undefined;
    if (DENY.check(a, type)) {
      return `${address} is a loopback, private, link-local or other non-public address; webhooks go to public addresses unless LONGSHORE_WEBHOOK_ALLOW_CIDRS allows it`;
    }
    return undefined;
  }

  /** Checks that need no DNS (at submit time): scheme, IP-literal hosts and localhost names. */
  urlProblem(raw: string): string | undefined {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return "webhook is not a valid URL";
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") return "webhook must be an http:// or https:// URL";
    const host = hostOf(u);
    if (net.isIP(host)) return this.addressProblem(host);
    if (host === "localhost" || host.endsWith(".localhost")) return this.addressProblem("127.0.0.1");
    return undefined;
  }

  /** A `lookup` for http.request: resolves like dns.lookup, then refuses the host when no resolved
   *  address may be called, and only ever returns addresses that may. */
  readonly lookup = (hostname: string, options: dns.LookupOptions, cb: (...a: any[]) => void): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addrs) => {
      if (err) return cb(err);
      const ok = addrs.filter((a) => !this.addressProblem(a.address));
      if (!ok.length) {
        const e = new Error(`webhook host ${hostname} resolves to ${addrs.map((a) => a.address).join(", ")}: ${this.addressProblem(addrs[0]?.address ?? "")}`) as NodeJS.ErrnoException;
        e.code = "ELONGSHORE_SSRF";
        return cb(e);
      }
      if (options.all) return cb(null, ok);
      cb(null, ok[0].address, ok[0].family);
    });
  };
}

/** The URL's host as an address or name: [::1] -> ::1. */
export function hostOf(u: URL): string {
  // "localhost." is localhost: a trailing dot only makes the name absolute
  return u.hostname.replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "").toLowerCase();
}
