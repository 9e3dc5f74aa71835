// Cloudflare's published edge ranges. With Cloudflare in front, these are the only peers whose
// CF-Connecting-IP nginx trusts (nginx/cloudflare/real-ip.conf) and the only sources
// scripts/firewall-cloudflare.sh admits on 80/443. Trusting anything wider lets clients forge their IP.
//
// Snapshot of https://www.cloudflare.com/ips-v4 and https://www.cloudflare.com/ips-v6 taken 2026-02.
// A deployed server refreshes its copy with scripts/cloudflare-refresh-ips.sh; update the lists
// here (and the date) when Cloudflare announces a change.

export const CLOUDFLARE_RANGES_SNAPSHOT = '2026-02';

export const CLOUDFLARE_IPV4: readonly string[] = [
  '173.245.48.0/20', '103.21.244.0/22', '103.22.200.0/22', '103.31.4.0/22', '141.101.64.0/18',
  '108.162.192.0/18', '190.93.240.0/20', '188.114.96.0/20', '197.234.240.0/22', '198.41.128.0/17',
  '162.158.0.0/15', '104.16.0.0/13', '104.24.0.0/14', '172.64.0.0/13', '131.0.72.0/22',
];

export const CLOUDFLARE_IPV6: readonly string[] = [
  '2400:cb00::/32', '2606:4700::/32', '2803:f800::/32', '2405:b500::/32', '2405:8100::/32',
  '2a06:98c0::/29', '2c0f:f248::/32',
];

export interface CloudflareFacts {
  /** When the ranges below were copied from Cloudflare (YYYY-MM). */
  snapshot: string;
  ipv4: string[];
  ipv6: string[];
  /** Where scripts/cloudflare-refresh-ips.sh fetches the current lists. */
  sources: { ipv4: string; ipv6: string };
  /** The generated nginx include, relative to the nginx config directory (and to the repo's nginx/). */
  realIpInclude: string;
  /** Opt-in Authenticated Origin Pulls include and the CA file it expects beside it. */
  originPullInclude: string;
  originPullCa: string;
  /** Where Cloudflare publishes its global Authenticated Origin Pulls CA. */
  originPullCaSource: string;
}

export function cloudflareFacts(): CloudflareFacts {
  return {
    snapshot: CLOUDFLARE_RANGES_SNAPSHOT,
    ipv4: [...CLOUDFLARE_IPV4],
    ipv6: [...CLOUDFLARE_IPV6],
    sources: { ipv4: 'https://www.cloudflare.com/ips-v4', ipv6: 'https://www.cloudflare.com/ips-v6' },
    realIpInclude: 'cloudflare/real-ip.conf',
    originPullInclude: 'cloudflare/origin-pull.conf',
    originPullCa: 'cloudflare/origin-pull-ca.pem',
    originPullCaSource: 'https://developers.cloudflare.com/ssl/static/authenticated_origin_pull_ca.pem',
  };
}
