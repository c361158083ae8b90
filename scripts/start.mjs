// `npm start`: the desktop app where Electron's binary is installed; otherwise the same lab
// served to a browser (Electron downloads its binary lazily, which a machine without
// outside network access cannot do).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findElectronBinary } from './electronBinary.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

if (!existsSync(path.join(root, 'dist/electron/cli.js')) || !existsSync(path.join(root, 'dist/renderer/index.html'))
    || !existsSync(path.join(root, 'native/build/Release/uring_lab.node'))) {
  console.log('uring-lab: building first (npm run build)…');
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const electron = findElectronBinary();
if (electron && (process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) {
  const args = [root, ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])];
  spawn(electron, args, { stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 0));
} else {
  const why = electron ? 'no display to open a window on' : 'the Electron binary is not installed here (npx install-electron fetches it where the network allows)';
  console.log(`uring-lab: ${why}; serving the lab in your browser instead.`);
  const serve = spawn(process.execPath, [path.join(root, 'dist/electron/cli.js'), 'serve', ...process.argv.slice(2)], { stdio: ['inherit', 'pipe', 'inherit'] });
  serve.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    const url = /https?:\/\/\S+/.exec(chunk.toString())?.[0];
    if (url && (process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) spawn('xdg-open', [url], { stdio: 'ignore', detached: true }).on('error', () => {}).unref();
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => serve.kill(signal));
  serve.on('exit', (code) => process.exit(code ?? 0));
}
