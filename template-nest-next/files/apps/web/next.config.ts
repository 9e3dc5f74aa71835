import type { NextConfig } from 'next';

const config: NextConfig = {
  // A self-contained server (.next/standalone/server.js) with only the files it needs: the
  // Dockerfile copies it, plus public/ and .next/static, into the runtime image.
  output: 'standalone',
  poweredByHeader: false,
  reactStrictMode: true,
  // nginx compresses (gzip for text, JSON, JS, CSS): no second pass here.
  compress: false,
  // Image optimisation would write a cache below .next/ on a read-only root filesystem.
  images: { unoptimized: true },
};

export default config;
