// The release image: the Dockerfile built afresh by buildah from a clean-clone context (the same
// build as e2e/releaseImage.test.ts, on the same stand-in bases), against the tree it carries.
//   BENCH image image_mb=.. base_mb=.. tree_mb=.. build_s=.. ratio=<image size / tree size>
// The ratio shows what the runtime stage adds to the tree (the slim base); build_s is the wall
// time of `buildah bud` (apt, npm ci with a warm npm cache mount, the TypeScript build, the addon
// and launcher compiles, the copy into the runtime stage), stand-ins already built.
import { buildReleaseImage, imageFacts, withImageRoot } from '../e2e/lib/releaseImage.js';
import { IMAGE_TREE } from '../charts/source/objects.js';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { bench } from './lib.js';

const img = buildReleaseImage({ fresh: true, log: (s) => console.log(`# ${s}`) });
const { layers } = imageFacts(img.name);
const total = layers.reduce((a, b) => a + b, 0);
const treeBytes = withImageRoot(img.name, (root) => Number(execFileSync('du', ['-sb', join(root, IMAGE_TREE)], { encoding: 'utf8' }).split('\t')[0]));
const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
bench('image', { image_mb: mb(total), base_mb: mb(layers[0] ?? 0), tree_mb: mb(treeBytes), layers: layers.length, build_s: Math.round(img.buildMs / 100) / 10 }, total / treeBytes);
