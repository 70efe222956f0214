// Local OCI images for the engine tests, made offline: one uncompressed layer, an OCI layout tarball that
// `ctr images import` takes, named by the annotations containerd reads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  User?: string;
}

/** Writes `<dir>/<tag>.tar`, an image of `rootfs` named `name`, and returns its path. */
export function ociImage(dir: string, rootfs: string, name: string, config: ImageConfig = { Cmd: ['/bin/sh'] }): string {
  const tag = name.replace(/[^A-Za-z0-9.-]/g, '_');
  const layout = join(dir, `${tag}.oci`);
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (data: Buffer) => {
    const digest = createHash('sha256').update(data).digest('hex');
    writeFileSync(join(blobs, digest), data);
    return { digest: `sha256:${digest}`, size: data.length };
  };
  const layerTar = join(dir, `${tag}.layer.tar`);
  assert.equal(spawnSync('tar', ['-C', rootfs, '-cf', layerTar, '.']).status, 0);
  const layer = blob(readFileSync(layerTar));
  rmSync(layerTar);
  const image = blob(Buffer.from(JSON.stringify({
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], ...config },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  })));
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...image },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  })));
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.split(':').pop() } }],
  }));
  const tarball = join(dir, `${tag}.tar`);
  assert.equal(spawnSync('tar', ['-C', layout, '-cf', tarball, '.']).status, 0);
  rmSync(layout, { recursive: true, force: true });
  return tarball;
}
