// vnode-cni when no manager answers the launcher.
export async function cniMain(_argv: string[]): Promise<number> {
  process.stdout.write(JSON.stringify({ cniVersion: '1.0.0', code: 11, msg: 'vnode-manager is not running' }) + '\n');
  return 1;
}
