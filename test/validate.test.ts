import { describe, expect, it } from 'vitest';
import { validateDomain, validateEmail, validateIntegerInRange, validateNumberInRange, validateProjectName } from '../src/validate.js';

describe('validateDomain', () => {
  it.each(['example.com', 'shop.example.org', 'a-b.co.uk', 'xn--bcher-kva.de', `${'a'.repeat(63)}.com`])('accepts %s', (domain) => {
    expect(validateDomain(domain)).toBeUndefined();
  });

  it.each([
    ['localhost', /single label/],
    ['intranet', /single label/],
    ['192.168.1.10', /IP address/],
    ['app.localhost', /special-use/],
    ['printer.local', /special-use/],
    ['-bad.com', /label "-bad"/],
    ['bad-.com', /label "bad-"/],
    ['a..com', /empty labels/],
    ['example.com.', /empty labels/],
    ['https://example.com', /public DNS name/],
    ['example.com:8080', /public DNS name/],
    ['Example.com', /lowercase/],
    ['bücher.de', /punycode/],
    ['under_score.com', /label "under_score"/],
    [`${'a'.repeat(64)}.com`, /63 characters/],
    [`${Array(64).fill('abc').join('.')}.com`, /253 characters/],
    ['www.example.com', /apex/],
  ])('rejects %s', (domain, rule) => {
    expect(validateDomain(domain)).toMatch(rule);
  });
});

describe('validateEmail', () => {
  it.each(['ops@example.com', 'first.last+le@mail.example.org'])('accepts %s', (email) => {
    expect(validateEmail(email)).toBeUndefined();
  });
  it.each(['ops', '@example.com', 'ops@', 'ops@localhost', 'a b@example.com', 'ops@@example.com', '.ops@example.com', 'ops@192.168.0.1'])(
    'rejects %s',
    (email) => {
      expect(validateEmail(email)).toMatch(/email address/);
    },
  );
});

describe('numeric ranges', () => {
  it('accepts numbers in range, fractions for memory', () => {
    expect(validateNumberInRange(1, 1, 512)).toBeUndefined();
    expect(validateNumberInRange(1.5, 1, 512)).toBeUndefined();
    expect(validateNumberInRange(512, 1, 512)).toBeUndefined();
  });
  it('rejects out of range and NaN', () => {
    for (const value of [0, 0.5, 513, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(validateNumberInRange(value, 1, 512)).toBe('must be a number from 1 to 512');
    }
  });
  it('needs whole numbers for CPUs', () => {
    expect(validateIntegerInRange(2, 1, 128)).toBeUndefined();
    expect(validateIntegerInRange(2.5, 1, 128)).toMatch(/whole number/);
    expect(validateIntegerInRange(129, 1, 128)).toMatch(/whole number from 1 to 128/);
  });
});

describe('validateProjectName', () => {
  it.each(['my-app', 'shop2', 'a'])('accepts %s', (name) => expect(validateProjectName(name)).toBeUndefined());
  it.each(['My-App', '2fast', 'my app', 'my_app', 'app-', 'a--b', '.hidden', 'x'.repeat(51)])('rejects %s', (name) => {
    expect(validateProjectName(name)).toBeDefined();
  });
});
