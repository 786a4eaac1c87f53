// What a vNode shows where the host's machine identity would be (docs/vnodefs.md, "Host
// identity"): the DMI attributes of /sys/devices/virtual/dmi/id, made from the vNode's name only,
// and /proc/sys/kernel/random/boot_id, made from its name and its pod's start. Nothing here reads
// the host: the whole DMI directory is replaced, so not even which fields the host's firmware
// fills shows through.
import { uuidV5 } from './uuidV5.js';
import type { ViewInput } from './ViewInput.js';

/** The vNode a caller belongs to, as the manager registered it (VnodeIdentities). */
export interface VnodeIdentity {
  /** the vNode's name (vn-<key>-<hash>, or a shared vNode's name): also its hostname */
  name: string;
  /** its exclusive host id range */
  uidStart: number;
  size: number;
}

// Fixed, random namespaces: a vNode's product_uuid and boot_id can never be equal, and no other
// program deriving UUIDs from names produces the same ones.
const PRODUCT_UUID_NS = '6c986450-1f8e-48e1-b897-653aec0bebbf';
const BOOT_ID_NS = '9e390489-99ec-44f9-af7b-e51fb481c468';

/** A vNode's SMBIOS system UUID: the same for the same name, on every node, across restarts. */
export const productUuid = (name: string): string => uuidV5(PRODUCT_UUID_NS, name);

/** SMBIOS chassis type 1, "Other": what virtual machines report. */
const CHASSIS_OTHER = '1';
const VENDOR = 'vNode';

/**
 * The DMI fields a vNode shows, by attribute name. Descriptive strings say "vNode"; the strings a
 * real machine has one of its own (serials, asset tags) are empty, because a constant would be a
 * serial shared by every vNode, which misleads inventory tools more than no serial; the one
 * unique value is product_uuid. Dates and releases (bios_date, bios_release,
 * ec_firmware_release) are left out, as the kernel leaves out fields the firmware lacks.
 */
export function dmiFields(name: string): Record<DmiAttribute, string> {
  return {
    bios_vendor: VENDOR,
    bios_version: VENDOR,
    sys_vendor: VENDOR,
    product_name: VENDOR,
    product_version: VENDOR,
    product_serial: '',
    product_uuid: productUuid(name),
    product_sku: VENDOR,
    product_family: VENDOR,
    board_vendor: VENDOR,
    board_name: VENDOR,
    board_version: VENDOR,
    board_serial: '',
    board_asset_tag: '',
    chassis_vendor: VENDOR,
    chassis_type: CHASSIS_OTHER,
    chassis_version: VENDOR,
    chassis_serial: '',
    chassis_asset_tag: '',
  };
}

/** Attributes and their modes as drivers/firmware/dmi-id.c has them: serials and the UUID are
 * root's only (0400), the rest world-readable. */
export const DMI_ATTRIBUTES = {
  bios_vendor: 0o444,
  bios_version: 0o444,
  sys_vendor: 0o444,
  product_name: 0o444,
  product_version: 0o444,
  product_serial: 0o400,
  product_uuid: 0o400,
  product_sku: 0o444,
  product_family: 0o444,
  board_vendor: 0o444,
  board_name: 0o444,
  board_version: 0o444,
  board_serial: 0o400,
  board_asset_tag: 0o444,
  chassis_vendor: 0o444,
  chassis_type: 0o444,
  chassis_version: 0o444,
  chassis_serial: 0o400,
  chassis_asset_tag: 0o444,
} as const;
export type DmiAttribute = keyof typeof DMI_ATTRIBUTES;

/** The kernel's filter for modalias values: no blanks, controls, non-ASCII or colons. */
const modaliasValue = (s: string): string => [...s].filter((c) => c > ' ' && c < '\x7f' && c !== ':').join('');

/**
 * modalias, in get_modalias()'s field order (udev's hwdb matches on its prefix): every field the
 * vNode has, whatever its value, so the string agrees with the attribute files.
 */
export function dmiModalias(f: Record<DmiAttribute, string>): string {
  const order: [string, DmiAttribute][] = [
    ['bvn', 'bios_vendor'],
    ['bvr', 'bios_version'],
    ['svn', 'sys_vendor'],
    ['pn', 'product_name'],
    ['pvr', 'product_version'],
    ['rvn', 'board_vendor'],
    ['rn', 'board_name'],
    ['rvr', 'board_version'],
    ['cvn', 'chassis_vendor'],
    ['ct', 'chassis_type'],
    ['cvr', 'chassis_version'],
    ['sku', 'product_sku'],
  ];
  return `dmi${order.map(([p, a]) => `:${p}${modaliasValue(f[a])}`).join('')}:`;
}

function identityOf(v: ViewInput): VnodeIdentity {
  // The builder fails the request before this for a caller of no registered vNode; a renderer
  // reached without one is a registry bug, never a reason to show something else.
  if (!v.vnode) throw new Error('identity file rendered without the caller\'s vNode');
  return v.vnode;
}

/** One renderer per DMI attribute file (the kernel prints each value and a newline). */
export function renderDmiAttribute(a: DmiAttribute): (v: ViewInput) => string {
  return (v) => `${dmiFields(identityOf(v).name)[a]}\n`;
}

export const renderDmiModalias = (v: ViewInput): string => `${dmiModalias(dmiFields(identityOf(v).name))}\n`;

/** The device's uevent: the dmi class adds only MODALIAS (no devt, type or driver). */
export const renderDmiUevent = (v: ViewInput): string => `MODALIAS=${dmiModalias(dmiFields(identityOf(v).name))}\n`;

/**
 * boot_id: a pod boots when it starts (its /proc/uptime counts from there), so its boot id is
 * made from its vNode and that start: the same for every container and exec of the pod, a new
 * one for the next pod, never the host's (which every pod on the node would share, telling
 * tenants they are neighbours).
 */
export const renderBootId = (v: ViewInput): string => `${uuidV5(BOOT_ID_NS, `${identityOf(v).name}\n${Math.round(v.startedAtMs)}`)}\n`;
