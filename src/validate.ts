// Validators return the rule that was broken, or undefined when the value is fine.

// Special-use names (RFC 6761, 6762, 7686, 9476) never resolve on the public internet.
const NON_PUBLIC_TLDS = new Set(['localhost', 'local', 'test', 'invalid', 'example', 'internal', 'onion', 'alt', 'home', 'lan', 'arpa']);
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function validateDomain(value: string): string | undefined {
  const rule = 'must be a public DNS name such as example.com (no scheme, port, IP address or localhost)';
  if (typeof value !== 'string' || value.length === 0) return rule;
  if (value !== value.toLowerCase()) return 'must be lowercase';
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(value)) return 'must be ASCII: write internationalised names in punycode (xn--…)';
  if (value.length > 253) return 'must be at most 253 characters long';
  if (/[/:@\s]/.test(value)) return rule;
  const labels = value.split('.');
  if (labels.length < 2) return `${rule}; a single label is not a public name`;
  for (const label of labels) {
    if (label.length === 0) return 'must not have empty labels (no leading, trailing or double dots)';
    if (label.length > 63) return 'labels must be at most 63 characters long';
    if (!LABEL.test(label)) return `label "${label}" may hold only a-z, 0-9 and inner hyphens`;
  }
  const tld = labels[labels.length - 1];
  if (/^[0-9]+$/.test(tld)) return `${rule}; an IP address is not a domain`;
  if (NON_PUBLIC_TLDS.has(tld)) return `${rule}; ".${tld}" is a special-use name that does not resolve publicly`;
  if (value.startsWith('www.')) return 'give the apex domain (without www.): www redirects to it';
  return undefined;
}

const EMAIL_LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

export function validateEmail(value: string): string | undefined {
  const rule = 'must be an email address such as ops@example.com';
  if (typeof value !== 'string') return rule;
  const at = value.lastIndexOf('@');
  if (at <= 0) return rule;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (local.length > 64 || !EMAIL_LOCAL.test(local)) return rule;
  if (validateDomain(domain.toLowerCase()) !== undefined) return `${rule} (the part after @ must be a public domain)`;
  return undefined;
}

export function validateNumberInRange(value: number, min: number, max: number): string | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    return `must be a number from ${min} to ${max}`;
  }
  return undefined;
}

export function validateIntegerInRange(value: number, min: number, max: number): string | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    return `must be a whole number from ${min} to ${max}`;
  }
  return undefined;
}

/** The project name comes from the target directory's name. It names the compose project, DB and packages. */
export function validateProjectName(name: string): string | undefined {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) {
    return 'must start with a lowercase letter and hold only lowercase letters, digits and hyphens';
  }
  if (name.length > 50) return 'must be at most 50 characters long';
  if (name.endsWith('-') || name.includes('--')) return 'must not end with a hyphen or hold two hyphens in a row';
  return undefined;
}
