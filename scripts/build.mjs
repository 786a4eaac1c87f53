// One build: TypeScript -> dist/, the C++ addon (node-gyp against the running node's headers), the C launcher, and
// the staged install tree build/opt/vnode/{bin,lib} that the installer, the Dockerfile and the
// tests all use.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, copyFileSync, writeFileSync, chmodSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tree = join(root, 'build/opt/vnode');
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });

function newer(src, dst) {
  if (!existsSync(dst)) return true;
  return statSync(src).mtimeMs > statSync(dst).mtimeMs;
}

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

// 1. TypeScript. tsc never deletes: outputs whose source is gone (a removed module, a removed
// test) are deleted here, so they neither run as tests nor travel in the staged tree.
run(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json']);
if (existsSync(join(root, 'dist'))) {
  for (const out of walk(join(root, 'dist'))) {
    const rel = relative(join(root, 'dist'), out);
    const m = /^(.*)\.(js|js\.map|d\.ts)$/.exec(rel);
    if (m && !existsSync(join(root, `${m[1]}.ts`))) rmSync(out);
    // a .proto asset whose source is gone, or a source file an older build copied over
    else if ((rel.endsWith('.proto') && !existsSync(join(root, rel))) || (rel.endsWith('.ts') && !rel.endsWith('.d.ts'))) rmSync(out);
  }
}
// Non-TS assets that the code loads at run time (the .proto files) travel beside the compiled files.
for (const dir of ['agent/proto']) {
  if (existsSync(join(root, dir))) cpSync(join(root, dir), join(root, 'dist', dir), { recursive: true, filter: (src) => !src.endsWith('.ts') });
}

// 2. Addon (rebuild only when a source changed), against the headers of the node that runs this
// build: /usr for Debian's nodejs (/usr/bin/node), /usr/local for the node images
// (/usr/local/bin/node); VNODE_NODEDIR overrides.
const nodedir = process.env.VNODE_NODEDIR || dirname(dirname(process.execPath));
if (!existsSync(join(nodedir, 'include/node/node_api.h'))) {
  console.error(`build: no node headers at ${nodedir}/include/node (install the headers of ${process.execPath}, or set VNODE_NODEDIR)`);
  process.exit(1);
}
const addonOut = join(root, 'addon/build/Release/vnode_addon.node');
const addonSrcs = walk(join(root, 'addon/src')).concat([join(root, 'addon/binding.gyp')]);
if (addonSrcs.some((s) => newer(s, addonOut))) {
  const gyp = join(root, 'node_modules/.bin/node-gyp');
  const configured = existsSync(join(root, 'addon/build/Makefile'));
  const srcsChanged = !configured || newer(join(root, 'addon/binding.gyp'), join(root, 'addon/build/Makefile')) ||
    readdirSync(join(root, 'addon/src')).some((f) => f.endsWith('.cc') && !existsSync(join(root, 'addon/build/Release/obj.target/vnode_addon/src', f.replace(/\.cc$/, '.o'))));
  run(gyp, [srcsChanged ? 'rebuild' : 'build', `--nodedir=${nodedir}`, '--silent'], { cwd: join(root, 'addon') });
}

// 3. Launcher and other small C programs.
mkdirSync(join(tree, 'bin'), { recursive: true });
const launcher = join(tree, 'bin/vnode');
const cflags = ['-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Wno-format-truncation', '-D_FORTIFY_SOURCE=2'];
// The launcher, one multi-call binary from several files: vnode.c holds main()'s dispatch,
// launcher.h says which file holds what. Rebuilt when any of them (the header too) or this
// script changed. Linked statically: it runs for every runc, CNI and shim call of every pod
// (~12 a pod), and without the dynamic loader an exec of it takes 0.73 ms instead of 0.96 here.
const launcherDir = 'addon/launcher';
const launcherSrcs = ['vnode.c', 'common.c', 'forward.c', 'runc.c', 'holder.c', 'nsexec.c'].map((f) => `${launcherDir}/${f}`);
if ([...launcherSrcs, `${launcherDir}/launcher.h`, 'scripts/build.mjs'].some((s) => newer(join(root, s), launcher))) {
  run('cc', [...cflags, '-static', '-o', launcher, ...launcherSrcs]);
}
// The manager's supervisor on the host (installer/ManagerSupervisor.ts): its own small program.
const supervise = join(tree, 'bin/vnode-supervise');
if (newer(join(root, 'addon/launcher/supervise.c'), supervise)) {
  run('cc', [...cflags, '-o', supervise, 'addon/launcher/supervise.c']);
}
// The fd keeper the manager starts beside itself (agent/common/FdKeeper.ts): holds seccomp
// listeners (and other fds) across a manager restart.
const keeper = join(tree, 'bin/vnode-keeper');
if (newer(join(root, 'addon/launcher/keeper.c'), keeper)) {
  run('cc', [...cflags, '-o', keeper, 'addon/launcher/keeper.c']);
}
for (const link of ['containerd-shim-vnode-v2', 'vnode-cni', 'vnode-runc', 'vnode-manager', 'vnode-holder', 'vnode-nsexec']) {
  const p = join(tree, 'bin', link);
  rmSync(p, { force: true });
  symlinkSync('vnode', p);
}

// The stock runc shim finds its runc by name in PATH (containerd sends no runc options for the
// vnode runtime): containerd-shim-vnode-v2 puts lib/runc-path first, where "runc" is vnode-runc.
mkdirSync(join(tree, 'lib/runc-path'), { recursive: true });
rmSync(join(tree, 'lib/runc-path/runc'), { force: true });
symlinkSync('../../bin/vnode', join(tree, 'lib/runc-path/runc'));

// 4. The staged tree: node, the compiled app, production dependencies, the addon, and the stock
// binaries vNode delegates to (runc shim and runc).
const lib = join(tree, 'lib');
mkdirSync(lib, { recursive: true });
const nodeBin = process.execPath;
if (newer(nodeBin, join(lib, 'node'))) copyFileSync(nodeBin, join(lib, 'node'));
chmodSync(join(lib, 'node'), 0o755);
buildShim(join(tree, 'bin/containerd-shim-runc-v2'));
buildRunc(join(tree, 'bin/runc'));
const app = join(lib, 'app');
rmSync(app, { recursive: true, force: true });
mkdirSync(app, { recursive: true });
for (const dir of ['agent', 'installer', 'addon']) {
  if (!existsSync(join(root, 'dist', dir))) continue;
  cpSync(join(root, 'dist', dir), join(app, dir), {
    recursive: true,
    filter: (s) => !s.endsWith('.test.js') && !s.endsWith('.test.js.map') && !s.endsWith('.d.ts'),
  });
}
copyFileSync(addonOut, join(app, 'addon/vnode_addon.node'));
// Production dependencies only, from the lockfile.
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
for (const [path, meta] of Object.entries(lock.packages)) {
  if (!path.startsWith('node_modules/') || meta.dev) continue;
  if (path.includes('/node_modules/node-addon-api')) continue;
  const src = join(root, path);
  if (!existsSync(src)) continue;
  cpSync(src, join(app, path), { recursive: true, filter: (s) => !relative(src, s).startsWith('node_modules') });
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
writeFileSync(join(app, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true }, null, 2));
writeFileSync(join(tree, 'VERSION'), `${pkg.version}\n`);

// A Go program of Debian's source (the -dev package of the same release as the binary package)
// with the tree's patches (<patchDir>/*.patch, applied in name order; each says in a comment what
// it changes and why), built with Debian's Go against Debian's Go libraries (GOPATH mode, as
// Debian builds it): `srcDir` is copied whole into a GOPATH of its own, which comes first, since
// GOPATH mode takes a package from the first entry that has its directory. Rebuilt when a patch
// or the source package changes (or its build flags; the stamp <tree>/lib/<name>.build). Stripped
// (-s -w) as Debian ships them: for every `runc init` runc binds its binary read-only, or where it
// cannot copies it whole into a sealed memfd (CVE-2019-5736); Go's tracebacks need neither the
// symbol table nor DWARF.
function buildPatchedGo({ name, devPackage, srcDir, importPath, patchDir, mainDir, mainSource, tags, ldflags, also = [] }, out) {
  const patchesIn = (dir) => readdirSync(join(root, dir)).filter((f) => f.endsWith('.patch')).sort().map((f) => join(root, dir, f));
  const patches = patchesIn(patchDir);
  const dpkgVersion = (p) => {
    try {
      return execFileSync('dpkg-query', ['-W', '-f=${Version}', p], { encoding: 'utf8' }).trim();
    } catch {
      return ''; // not installed: said below
    }
  };
  const version = dpkgVersion(devPackage);
  // Libraries it imports that are patched too (`also`: each from its own -dev package, with its
  // own patch dir), put in the same GOPATH ahead of Debian's.
  for (const a of also) {
    a.version = dpkgVersion(a.devPackage);
    if (!a.version || !existsSync(a.srcDir)) throw new Error(`build: ${name} needs Debian's ${a.devPackage} (npm run setup installs it)`);
    a.patches = patchesIn(a.patchDir);
  }
  let go = '';
  try {
    go = execFileSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' }).trim();
  } catch {
    // no Go: said below
  }
  if (!version || !existsSync(srcDir) || !go) {
    throw new Error(`build: ${name} needs Debian's golang-go and ${devPackage} (npm run setup installs them)`);
  }
  const stamp = join(dirname(out), `../lib/${name}.build`);
  const hash = createHash('sha256');
  for (const p of [...patches, ...also.flatMap((a) => a.patches)]) hash.update(basename(p)).update('\0').update(readFileSync(p)).update('\0');
  for (const a of also) hash.update(`${a.devPackage} ${a.version}`).update('\0');
  const flags = ['build', ...(tags ? ['-tags', tags] : []), '-trimpath', '-ldflags', `-s -w ${ldflags(version)}`];
  hash.update(flags.join('\0')).update('\0');
  const want = `${version} ${hash.digest('hex')}`;
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  const work = join(root, 'build', name);
  const gopath = join(work, 'gopath');
  const pkg = join(gopath, 'src', importPath);
  rmSync(gopath, { recursive: true, force: true });
  mkdirSync(dirname(pkg), { recursive: true });
  cpSync(srcDir, pkg, { recursive: true });
  for (const p of patches) run('patch', ['-p1', '--quiet', '-i', p], { cwd: pkg });
  for (const a of also) {
    const dir = join(gopath, 'src', a.importPath);
    mkdirSync(dirname(dir), { recursive: true });
    cpSync(a.srcDir, dir, { recursive: true });
    for (const p of a.patches) run('patch', ['-p1', '--quiet', '-i', p], { cwd: dir });
  }
  let cwd = pkg;
  if (mainSource) {
    cwd = join(gopath, 'src', mainDir);
    mkdirSync(cwd, { recursive: true });
    writeFileSync(join(cwd, 'main.go'), mainSource);
  }
  const env = { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:/usr/share/gocode`, GOCACHE: join(work, 'cache'), GOFLAGS: '', CGO_ENABLED: '1' };
  run(go, [...flags, '-o', `${out}.tmp`, '.'], { cwd, env });
  chmodSync(`${out}.tmp`, 0o755);
  renameSync(`${out}.tmp`, out);
  writeFileSync(stamp, want);
}

// The runc shim: containerd's source with shim/*.patch (vnode-rootfs-mounts.patch leaves a
// container's overlay to the manager, docs/pods.md step 3). Its main is the two lines of
// containerd's own cmd/containerd-shim-runc-v2, which the -dev package does not carry.
function buildShim(out) {
  const v = 'github.com/containerd/containerd/version';
  buildPatchedGo({
    name: 'shim',
    devPackage: 'golang-github-containerd-containerd-dev',
    srcDir: '/usr/share/gocode/src/github.com/containerd/containerd',
    importPath: 'github.com/containerd/containerd',
    patchDir: 'shim',
    mainDir: 'vnode-shim',
    mainSource: 'package main\n\nimport (\n\tv2 "github.com/containerd/containerd/runtime/v2/runc/v2"\n\t"github.com/containerd/containerd/runtime/v2/shim"\n)\n\nfunc main() {\n\tshim.Run("io.containerd.runc.v2", v2.New)\n}\n',
    ldflags: (version) => `-X ${v}.Version=${version}+vnode1 -X ${v}.Revision=${version}+vnode1`,
    // go-runc with shim/go-runc/*.patch: vnode-direct.patch runs the runc commands the manager
    // does not hook (exec, kill, state, ...) and a start it marked ready without vnode-runc's exec.
    also: [{ devPackage: 'golang-github-containerd-go-runc-dev', srcDir: '/usr/share/gocode/src/github.com/containerd/go-runc', importPath: 'github.com/containerd/go-runc', patchDir: 'shim/go-runc' }],
  }, out);
}

// runc: runc's source with runc/*.patch: vnode-pidns.patch nests a vNode container's pid
// namespace in its vNode's (docs/workloads.md), vnode-enosys.patch answers syscalls newer than
// libseccomp ENOSYS in a vNode (docs/seccomp.md).
function buildRunc(out) {
  buildPatchedGo({
    name: 'runc',
    devPackage: 'golang-github-opencontainers-runc-dev',
    srcDir: '/usr/share/gocode/src/github.com/opencontainers/runc',
    importPath: 'github.com/opencontainers/runc',
    patchDir: 'runc',
    // Debian's own tags: urfave_cli_no_docs leaves out the CLI's man-page generator, whose markdown
    // library builds its tables at every start (1.1-1.7 ms more CPU on each runc exec, 13 a pod).
    tags: 'seccomp,urfave_cli_no_docs',
    ldflags: (version) => `-X main.version=${version}+vnode1`,
  }, out);
}
