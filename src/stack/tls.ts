// How the stack gets and renews its Let's Encrypt certificate (one certificate: apex + www + api).
// Templates read these as m.tls.*; scripts/certbot-*.sh and server/systemd/*cert* are rendered from them.
import { IMAGES } from '../versions.js';

export interface TlsFacts {
  /** certbot --cert-name: the live directory under /etc/letsencrypt/live/ (m.paths.certificate's folder). */
  certName: string;
  /** Names on the certificate, apex first. */
  names: string[];
  /**
   * 'webroot': HTTP-01 through nginx's port 80 (/.well-known/acme-challenge/ from m.paths.acmeWebroot).
   * 'dns-cloudflare': DNS-01 through the Cloudflare API: works while records are proxied and before
   * the origin has a trusted certificate, which SSL mode Full (strict) needs.
   */
  challenge: 'webroot' | 'dns-cloudflare';
  /** Image the compose `certbot` service runs: the DNS plugin image (same pinned release) for DNS-01. */
  certbotImage: string;
  /** DNS-01 only: credentials file (in the letsencrypt volume, mode 600) certbot reads, rewritten from .env on every run. */
  cloudflareCredentialsFile: string;
  dnsPropagationSeconds: number;
  /** systemd OnCalendar for renewal (twice a day, as Let's Encrypt asks) and its random spread. */
  renewOnCalendar: string;
  renewRandomDelay: string;
  /** Unit names under server/systemd/. */
  renewUnit: string;
}

export function tlsFacts(opts: {
  domain: { apex: string; www: string; api: string };
  cloudflare: boolean;
  projectName: string;
}): TlsFacts {
  // certbot publishes its DNS plugins as sibling images with the same tags (certbot/dns-cloudflare:vX.Y.Z).
  const dnsImage = IMAGES.certbot.replace(/^certbot\/certbot:/, 'certbot/dns-cloudflare:');
  return {
    certName: opts.domain.apex,
    names: [opts.domain.apex, opts.domain.www, opts.domain.api],
    challenge: opts.cloudflare ? 'dns-cloudflare' : 'webroot',
    certbotImage: opts.cloudflare ? dnsImage : IMAGES.certbot,
    cloudflareCredentialsFile: 'cloudflare.ini',
    dnsPropagationSeconds: 30,
    renewOnCalendar: '*-*-* 00,12:00:00',
    renewRandomDelay: '1h',
    renewUnit: `${opts.projectName}-certbot-renew`,
  };
}
