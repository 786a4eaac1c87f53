// Adding the vnode runtime handler to containerd's configuration, and taking it out again.
//
// The files are never re-serialised: smol-toml parses them to understand them, and the change is
// one marked block of text appended to one file (markedBlock.ts), so comments, ordering and
// unrelated sections stay byte for byte, and removal gives back the original bytes. Which file:
//   - containerd 2.x whose root config imports a glob (conf.d/*.toml): a drop-in there, written with
//     the root's config version (2.x deep-merges plugin tables; a higher drop-in version breaks
//     2.3.0-2.3.4 and silently drops the root's v2 CRI settings on 2.0-2.2);
//   - containerd 1.6/1.7: the file that owns the CRI plugin table (1.x replaces each plugins."<id>"
//     table whole when merging imports, so a drop-in would wipe the root's CRI section);
//   - otherwise the root config, or a new root config when there is none;
//   - k3s/RKE2: their config.toml is rendered from a template on every start, so the block goes into
//     config-v3.toml.tmpl / config.toml.tmpl (a new one extends k3s's built-in "base" template).
// containerd 1.x decodes a plugin's `runtimes` map fresh from the file (go-toml v1): a file that
// names any runtime loses the built-in runc entry. So where the effective CRI table does not define
// its default runtime, the block defines runc too (measured with `containerd config dump`, 1.6.20).
import { parse, type TomlTable } from 'smol-toml';
import { dirname, posix } from 'node:path';
import { atLeast, formatVersion, type ContainerdVersion } from './containerdVersion.js';
import { globToRegExp } from './HostRoot.js';
import { appendBlock, findBlocks, removeBlocks } from './markedBlock.js';

export type ContainerdFlavor = 'containerd' | 'k3s' | 'rke2';

/** What the vnode handler's runtime entry says. Paths are host paths. */
export interface VnodeRuntimeSpec {
  handler: string;
  runtimeType: string;
  runtimePath: string;
  cniConfDir: string;
  cniMaxConfNum: number;
  podAnnotations: string[];
  containerAnnotations: string[];
}

/** Read-only access to the host's files (HostRoot satisfies it; tests pass a map). */
export interface ConfigFiles {
  readText(hostPath: string): string | undefined;
  glob(pattern: string): string[];
}

export interface ConfigTarget {
  flavor: ContainerdFlavor;
  /** The root config containerd reads (for k3s/RKE2: the rendered config.toml). */
  configPath: string;
  /** From the containerd binary; undefined when it could not be run. */
  version?: ContainerdVersion;
  /** File name of a drop-in the installer writes into an imported directory. */
  dropInName: string;
}

export interface FileEdit {
  path: string;
  before: string | undefined;
  /** undefined: delete the file. */
  after: string | undefined;
}

export type ConfigMode = 'create-root' | 'root' | 'cri-owner' | 'drop-in' | 'k3s-template';

export interface CniSettings {
  confDir: string;
  binDir: string;
}

export interface ConfigPlan {
  mode: ConfigMode;
  /** The file that carries (or will carry) the block. */
  file: string;
  configVersion: number;
  /** The CRI plugin table the runtime goes under, e.g. io.containerd.grpc.v1.cri. */
  pluginId: string;
  /** Also defines runc because the file would otherwise drop containerd's built-in entry. */
  addsDefaultRuntime: boolean;
  /** Edits to make; empty when the host already has exactly this configuration. */
  edits: FileEdit[];
  /** The host network's CNI settings, from the effective configuration. */
  cni: CniSettings;
  notes: string[];
}

export class ContainerdConfigError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ContainerdConfigError';
  }
}

export const K3S_TEMPLATE_V3 = 'config-v3.toml.tmpl';
export const K3S_TEMPLATE_V2 = 'config.toml.tmpl';
const DEFAULT_CNI: CniSettings = { confDir: '/etc/cni/net.d', binDir: '/opt/cni/bin' };

interface LoadedFile {
  path: string;
  text: string;
  /** Parsed without our blocks: what the host had before the installer. */
  data: TomlTable;
}

const isTable = (v: unknown): v is TomlTable => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

function get(t: TomlTable | undefined, path: string[]): unknown {
  let cur: unknown = t;
  for (const k of path) {
    if (!isTable(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function parseToml(path: string, text: string): TomlTable {
  try {
    return parse(text);
  } catch (e) {
    throw new ContainerdConfigError(path, `not valid TOML: ${(e as Error).message.split('\n')[0]}`);
  }
}

function loadFile(files: ConfigFiles, path: string): LoadedFile | undefined {
  const text = files.readText(path);
  if (text === undefined) return undefined;
  const own = removeBlocks(text).text ?? '';
  return { path, text, data: parseToml(path, own) };
}

/** The root config and its imports in containerd's load order (breadth first, each file once). */
export function loadConfigSet(files: ConfigFiles, rootPath: string): LoadedFile[] {
  const root = loadFile(files, rootPath);
  if (!root) return [];
  const out = [root];
  const seen = new Set([rootPath]);
  for (let i = 0; i < out.length; i++) {
    const f = out[i]!;
    for (const pattern of importsOf(f)) {
      const abs = posix.isAbsolute(pattern) ? pattern : posix.join(dirname(f.path), pattern);
      for (const p of files.glob(abs)) {
        if (seen.has(p)) continue;
        seen.add(p);
        const loaded = loadFile(files, p);
        if (loaded) out.push(loaded);
      }
    }
  }
  return out;
}

function importsOf(f: LoadedFile): string[] {
  const imports = f.data.imports;
  if (imports === undefined) return [];
  if (!Array.isArray(imports) || imports.some((x) => typeof x !== 'string')) {
    throw new ContainerdConfigError(f.path, '`imports` must be an array of strings');
  }
  return imports as string[];
}

function versionOf(f: LoadedFile): number | undefined {
  const v = f.data.version;
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ContainerdConfigError(f.path, '`version` must be an integer');
  return v;
}

/** The CRI plugin table that holds `containerd.runtimes` for a config version on a containerd major. */
export function criPluginId(configVersion: number, major: number | undefined): string {
  if (configVersion <= 1) return 'cri';
  if (configVersion === 2) return 'io.containerd.grpc.v1.cri';
  if (major !== undefined && major < 2) {
    throw new Error(`config version ${configVersion} needs containerd 2.x, but containerd is ${major}.x`);
  }
  return 'io.containerd.cri.v1.runtime';
}

function tableHeader(pluginId: string, rest: string[]): string {
  const id = pluginId === 'cri' ? 'cri' : pluginId.includes('cri.v1.runtime') ? `'${pluginId}'` : `"${pluginId}"`;
  return `[plugins.${id}.${rest.join('.')}]`;
}

const tomlString = (s: string): string => JSON.stringify(s);
const tomlStrings = (a: string[]): string => `[${a.map(tomlString).join(', ')}]`;

/** The TOML lines of the runtime entry (and, when needed, containerd's runc entry). */
export function runtimeBlockBody(spec: VnodeRuntimeSpec, pluginId: string, opts: { versionLine?: number; withRunc?: boolean; k3sBase?: boolean } = {}): string {
  const lines: string[] = [];
  if (opts.k3sBase) lines.push('{{ template "base" . }}', '');
  if (opts.versionLine !== undefined) lines.push(`version = ${opts.versionLine}`, '');
  lines.push(
    tableHeader(pluginId, ['containerd', 'runtimes', spec.handler]),
    `  runtime_type = ${tomlString(spec.runtimeType)}`,
    `  runtime_path = ${tomlString(spec.runtimePath)}`,
    `  cni_conf_dir = ${tomlString(spec.cniConfDir)}`,
    `  cni_max_conf_num = ${spec.cniMaxConfNum}`,
    `  pod_annotations = ${tomlStrings(spec.podAnnotations)}`,
    `  container_annotations = ${tomlStrings(spec.containerAnnotations)}`,
  );
  if (opts.withRunc) {
    lines.push(
      '',
      '# containerd 1.x drops its built-in runc entry once this file names a runtime; keep it.',
      tableHeader(pluginId, ['containerd', 'runtimes', 'runc']),
      `  runtime_type = "io.containerd.runc.v2"`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function cniFrom(data: TomlTable | undefined, pluginId: string, base: CniSettings): CniSettings {
  const cni = get(data, ['plugins', pluginId, 'cni']);
  if (!isTable(cni)) return base;
  const confDir = typeof cni.conf_dir === 'string' && cni.conf_dir ? cni.conf_dir : base.confDir;
  let binDir = base.binDir;
  if (Array.isArray(cni.bin_dirs) && typeof cni.bin_dirs[0] === 'string') binDir = cni.bin_dirs[0];
  else if (typeof cni.bin_dir === 'string' && cni.bin_dir) binDir = cni.bin_dir;
  return { confDir, binDir };
}

/** Where the handler is defined outside our blocks, if anywhere. */
function foreignDefinition(set: LoadedFile[], pluginIds: string[], handler: string): string | undefined {
  for (const f of set) {
    for (const id of pluginIds) if (get(f.data, ['plugins', id, 'containerd', 'runtimes', handler]) !== undefined) return f.path;
  }
  return undefined;
}

/** Plans adding the runtime. Pure: reads through `files`, changes nothing. */
export function planInstall(files: ConfigFiles, target: ConfigTarget, spec: VnodeRuntimeSpec): ConfigPlan {
  if (target.flavor !== 'containerd') return planK3s(files, target, spec);
  const major = target.version?.major;
  const notes: string[] = [];
  // A root config that holds nothing but our created block counts as missing.
  const rootText = files.readText(target.configPath);
  const rootIsOurs = rootText !== undefined && removeBlocks(rootText).text === undefined;
  const set = rootIsOurs ? [] : loadConfigSet(files, target.configPath);
  const root = set[0];

  let mode: ConfigMode;
  let file: string;
  let configVersion: number;
  if (!root) {
    mode = 'create-root';
    file = target.configPath;
    configVersion = major !== undefined && major >= 2 ? 3 : 2;
  } else {
    const v = versionOf(root);
    if (v === undefined && major !== undefined && major >= 2) {
      throw new ContainerdConfigError(root.path, `has no \`version\`; containerd ${formatVersion(target.version!)} needs version 2 or 3 here, so vNode will not guess`);
    }
    configVersion = v ?? 1;
    if (configVersion >= 3 && major !== undefined && major < 2) {
      throw new ContainerdConfigError(root.path, `is config version ${configVersion}, which containerd ${formatVersion(target.version!)} does not read (it needs version 2)`);
    }
    for (const f of set.slice(1)) {
      const fv = versionOf(f);
      if (fv !== undefined && fv !== configVersion) notes.push(`${f.path} is config version ${fv}, the root is ${configVersion}`);
    }
    const dropInDir = major !== undefined && major >= 2 ? importedGlobDir(root, target.dropInName) : undefined;
    if (dropInDir) {
      mode = 'drop-in';
      file = posix.join(dropInDir, target.dropInName);
    } else {
      const pid = criPluginId(configVersion, major);
      // 1.x (or unknown): the last file in load order with the CRI table is the one containerd uses.
      const owner = [...set].reverse().find((f) => get(f.data, ['plugins', pid]) !== undefined);
      if (owner && owner !== root && (major === undefined || major < 2)) {
        mode = 'cri-owner';
        file = owner.path;
        notes.push(`${owner.path} replaces the root's CRI section on containerd 1.x, so the runtime goes there`);
      } else {
        mode = 'root';
        file = root.path;
      }
    }
  }
  const pluginId = criPluginId(configVersion, major);
  const foreign = foreignDefinition(set, [pluginId], spec.handler);
  if (foreign) throw new ContainerdConfigError(foreign, `already defines runtime handler "${spec.handler}" outside the vNode installer's block; remove it or pick another handler name`);

  // CNI: on 1.x the owner's table is all there is; on 2.x later files override earlier ones.
  let cni = DEFAULT_CNI;
  if (major === undefined || major < 2) {
    const owner = [...set].reverse().find((f) => get(f.data, ['plugins', pluginId]) !== undefined);
    cni = cniFrom(owner?.data, pluginId, DEFAULT_CNI);
  } else {
    for (const f of set) cni = cniFrom(f.data, pluginId, cni);
  }

  // The default runtime: 1.x (and unknown) only; the file we edit must keep it defined.
  let addsDefaultRuntime = false;
  if (major === undefined || major < 2) {
    const fileData = set.find((f) => f.path === file)?.data;
    const defName = get(fileData, ['plugins', pluginId, 'containerd', 'default_runtime_name']);
    const name = typeof defName === 'string' && defName ? defName : 'runc';
    const defined = get(fileData, ['plugins', pluginId, 'containerd', 'runtimes', name]) !== undefined;
    if (!defined && name === 'runc') addsDefaultRuntime = true;
    else if (!defined) notes.push(`default runtime "${name}" is not defined in ${file}; left as it was`);
  }

  const body = runtimeBlockBody(spec, pluginId, {
    withRunc: addsDefaultRuntime,
    // A file the installer creates states its version: the drop-in must match the root's.
    versionLine: mode === 'create-root' || mode === 'drop-in' ? configVersion : undefined,
  });
  const edits = blockEdits(files, set.map((f) => f.path).concat(mode === 'drop-in' || mode === 'create-root' ? [file] : []), file, body);
  return { mode, file, configVersion, pluginId, addsDefaultRuntime, edits, cni, notes };
}

/** A directory that the root imports by a glob which our drop-in name matches. */
function importedGlobDir(root: LoadedFile, dropInName: string): string | undefined {
  for (const pattern of importsOf(root)) {
    const abs = posix.isAbsolute(pattern) ? pattern : posix.join(dirname(root.path), pattern);
    const dir = posix.dirname(abs);
    const base = posix.basename(abs);
    if (/[*?[]/.test(dir) || !/[*?[]/.test(base)) continue;
    if (globToRegExp(base).test(dropInName)) return dir;
  }
  return undefined;
}

/** Edits that leave exactly one block with `body`, in `file`, and none anywhere else. */
function blockEdits(files: ConfigFiles, candidates: string[], file: string, body: string): FileEdit[] {
  const edits: FileEdit[] = [];
  for (const path of [...new Set(candidates)]) {
    const before = files.readText(path);
    if (before === undefined) {
      if (path === file) edits.push({ path, before, after: appendBlock(undefined, body) });
      continue;
    }
    const blocks = findBlocks(before);
    if (path === file && blocks.length === 1 && blocks[0]!.body === body) continue;
    if (path !== file && blocks.length === 0) continue;
    const stripped = removeBlocks(before).text;
    const created = blocks.some((b) => b.created);
    let after: string | undefined = stripped;
    if (path === file) after = stripped === undefined || (created && stripped === '') ? appendBlock(undefined, body) : appendBlock(stripped, body);
    edits.push({ path, before, after });
  }
  for (const e of edits) if (e.after !== undefined) verifyEdit(e);
  return edits;
}

/**
 * The edited file must still be TOML (a template is checked without its Go template lines), and
 * must say everything the original said: only keys under our runtimes and the version line may be new.
 */
function verifyEdit(e: FileEdit): void {
  const strip = (t: string) => t.split('\n').filter((l) => !/^\s*\{\{.*\}\}\s*$/.test(l)).join('\n');
  const isTemplate = e.path.endsWith('.tmpl');
  if (isTemplate && e.before !== undefined && /\{\{/.test(removeBlocks(e.before).text ?? '')) {
    // A user template: its own text is Go template, so only our block can be checked.
    for (const b of findBlocks(e.after!)) parseToml(e.path, strip(b.body));
    return;
  }
  const after = parseToml(e.path, isTemplate ? strip(e.after!) : e.after!);
  const before = e.before === undefined ? {} : parseToml(e.path, removeBlocks(isTemplate ? strip(e.before) : e.before).text ?? '');
  const missing = missingFrom(before, after, []);
  if (missing) {
    throw new ContainerdConfigError(e.path, `adding the runtime block would change ${missing}; the file needs a manual edit (e.g. an inline runtimes table cannot be extended)`);
  }
}

/** The first key path whose value in `a` differs in `b` (b may only add keys). */
function missingFrom(a: unknown, b: unknown, path: string[]): string | undefined {
  if (isTable(a)) {
    if (!isTable(b)) return path.join('.') || '(root)';
    for (const k of Object.keys(a)) {
      const m = missingFrom(a[k], b[k], [...path, k]);
      if (m) return m;
    }
    return undefined;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? undefined : path.join('.') || '(root)';
}

function planK3s(files: ConfigFiles, target: ConfigTarget, spec: VnodeRuntimeSpec): ConfigPlan {
  const dir = posix.dirname(target.configPath);
  const v3 = posix.join(dir, K3S_TEMPLATE_V3);
  const v2 = posix.join(dir, K3S_TEMPLATE_V2);
  const notes: string[] = [];
  const rendered = loadFile(files, target.configPath);
  const renderedVersion = rendered ? versionOf(rendered) : undefined;
  // k3s takes the first template that exists, v3 before v2, and falls back to its built-in one.
  const own = (p: string) => {
    const t = files.readText(p);
    return t !== undefined && !(findBlocks(t).some((b) => b.created) && removeBlocks(t).text === undefined);
  };
  let file: string;
  let configVersion: number;
  let create = false;
  if (own(v3)) [file, configVersion] = [v3, 3];
  else if (own(v2)) [file, configVersion] = [v2, 2];
  else {
    create = true;
    configVersion = renderedVersion ?? (target.version && atLeast(target.version, 2) ? 3 : 2);
    file = configVersion >= 3 ? v3 : v2;
    notes.push(`${file} extends k3s's built-in "base" template (k3s v1.24.17, v1.25.13, v1.26.8, v1.27.5, v1.28.1 or later)`);
  }
  const pluginId = criPluginId(configVersion, target.version?.major);
  const ours = [v3, v2].some((p) => findBlocks(files.readText(p) ?? '').length > 0);
  if (!ours && rendered && get(rendered.data, ['plugins', pluginId, 'containerd', 'runtimes', spec.handler]) !== undefined) {
    throw new ContainerdConfigError(target.configPath, `already defines runtime handler "${spec.handler}" outside the vNode installer's block`);
  }
  const cni = cniFrom(rendered?.data, pluginId, { confDir: '/var/lib/rancher/k3s/agent/etc/cni/net.d', binDir: '/var/lib/rancher/k3s/data/current/bin' });
  const body = runtimeBlockBody(spec, pluginId, { k3sBase: create });
  const edits = blockEdits(files, [v3, v2], file, body);
  return { mode: 'k3s-template', file, configVersion, pluginId, addsDefaultRuntime: false, edits, cni, notes };
}

/** Plans taking every vNode block out of the files the installer may have touched. */
export function planRemoval(files: ConfigFiles, target: ConfigTarget, extraFiles: string[] = []): FileEdit[] {
  const candidates = new Set<string>(extraFiles);
  if (target.flavor === 'containerd') {
    for (const f of safeLoad(files, target.configPath)) candidates.add(f);
    candidates.add(target.configPath);
  } else {
    const dir = posix.dirname(target.configPath);
    candidates.add(posix.join(dir, K3S_TEMPLATE_V3));
    candidates.add(posix.join(dir, K3S_TEMPLATE_V2));
  }
  const edits: FileEdit[] = [];
  for (const path of candidates) {
    const before = files.readText(path);
    if (before === undefined || !findBlocks(before).length) continue;
    edits.push({ path, before, after: removeBlocks(before).text });
  }
  return edits;
}

/** Every file of the config set, tolerating files that no longer parse (removal must still work). */
function safeLoad(files: ConfigFiles, rootPath: string): string[] {
  try {
    return loadConfigSet(files, rootPath).map((f) => f.path);
  } catch {
    return [rootPath];
  }
}
