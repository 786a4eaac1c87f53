// Where the install tree is: the staged build/opt/vnode in development, the tree this program
// runs from when installed (<tree>/lib/app/agent/launch/treePaths.js).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function findTree(): string {
  if (process.env.VNODE_TREE) return process.env.VNODE_TREE;
  const installed = fileURLToPath(new URL('../../../..', import.meta.url)).replace(/\/$/, '');
  if (existsSync(`${installed}/bin/vnode`) && existsSync(`${installed}/lib/app`)) return installed;
  // development: dist/agent/launch -> repo/build/opt/vnode
  return fileURLToPath(new URL('../../../build/opt/vnode', import.meta.url)).replace(/\/$/, '');
}

export const TREE_DIR = findTree();
export const TREE_BIN = `${TREE_DIR}/bin`;
