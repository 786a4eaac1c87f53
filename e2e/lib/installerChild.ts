// The real installer (config file, preflight, restart strategy from the config) in its own
// process, for the kill -9 tests: `node installerChild.js CONFIG install|uninstall [STEP:PHASE]`
// prints "PAUSED STEP:PHASE" at that hook and waits there to be killed; without a pause point it
// prints the report and "DONE".
import { loadInstallerConfig } from '../../installer/installerConfig.js';
import { prepareInstaller } from '../../installer/installerMain.js';

const [file, op, at] = process.argv.slice(2);
if (!file || (op !== 'install' && op !== 'uninstall')) {
  process.stderr.write('usage: installerChild CONFIG install|uninstall [STEP:PHASE]\n');
  process.exit(2);
}
const cfg = loadInstallerConfig(file);
const { installer } = await prepareInstaller(cfg, {
  node: null,
  onStep: async (name, phase, o) => {
    if (`${name}:${phase}` === at && o === op) {
      process.stdout.write(`PAUSED ${at}\n`);
      await new Promise(() => setInterval(() => undefined, 1 << 30));
    }
  },
});
const report = await (op === 'install' ? installer.install() : installer.uninstall());
process.stdout.write(`${JSON.stringify(report)}\nDONE\n`);
