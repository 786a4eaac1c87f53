// Runs an install or uninstall against a fake host root in its own process, for the kill -9 test:
// `node installerChild.js ROOT install|uninstall STEP:PHASE` prints "PAUSED" at that hook and
// then waits to be killed.
import { Installer } from '../Installer.js';
import { fakeOptions } from './fakeHost.js';

const [root, op, at] = process.argv.slice(2);
const { opts } = fakeOptions(root!, {
  onStep: async (name, phase, o) => {
    if (`${name}:${phase}` === at && o === op) {
      process.stdout.write('PAUSED\n');
      await new Promise(() => setInterval(() => undefined, 1 << 30));
    }
  },
});
const inst = new Installer(opts);
await (op === 'install' ? inst.install() : inst.uninstall());
process.stdout.write('DONE\n');
