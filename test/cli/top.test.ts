/**
 * `shmring top` on a real terminal (a pseudo-terminal from util-linux `script`, sized 80x24 with stty):
 * every line fits the 80 columns, and `q` quits. Off a terminal, $COLUMNS sets the width.
 */
import { spawn, spawnSync } from 'child_process';
import { Fixtures, MAIN, runCli, killAndWait, waitFor } from './cli-helpers';

const fixtures = new Fixtures();
afterEach(() => fixtures.cleanup());

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
if (!hasScript) console.warn('cli/top: util-linux `script` is missing: the pseudo-terminal test is skipped');
const itWithPty = hasScript ? it : it.skip;

// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-9;?]*[A-Za-z]/g;

function screenLines(output: string): string[] {
  return output.replace(ESCAPES, '').split(/\r?\n/);
}

describe('shmring top', () => {
  itWithPty('fits an 80-column terminal, shortening long ring names, and quits on q', async () => {
    const { prefix, name } = fixtures.family('cli-top');
    const ring = name('a-rather-long-ring-name-for-an-eighty-column-terminal');
    await fixtures.startRing({ name: ring, messages: 12, consumers: [{ self: true, lost: 3 }] });
    expect(ring.length).toBeGreaterThan(80);

    const command = `stty cols 80 rows 24; exec ${process.execPath} ${MAIN} top --interval 200 --prefix ${prefix}`;
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => screenLines(out).filter((line) => line.includes('live')).length >= 2, 'two frames of top');
      child.stdin!.write('q');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still running 10 s after q'), 10_000)))]);
      clearTimeout(timer);
      expect({ code, err }).toEqual({ code: 0, err: '' });
    } finally {
      await killAndWait(child, 'SIGKILL');
    }
    const lines = screenLines(out);
    const tooWide = lines.filter((line) => line.length > 80);
    expect(tooWide).toEqual([]);
    expect(lines.some((line) => line.includes('q to quit'))).toBe(true);
    const heading = lines.find((line) => line.startsWith('RING'))!;
    expect(heading).toMatch(/^RING\s+STATUS\b.*\bMSG\/S\b.*\bLOST\b/);
    const row = lines.find((line) => line.includes('live'))!;
    expect(row).toContain('…');
    expect(row.startsWith(ring.slice(0, 12))).toBe(true);
    expect(row).toMatch(/\b3$/); // LOST, the last column, kept
  });

  it('off a terminal, fits $COLUMNS', async () => {
    const { prefix, name } = fixtures.family('cli-top-columns');
    await fixtures.startRing({ name: name('another-long-ring-name-to-shorten'), messages: 5 });
    for (const columns of [60, 100]) {
      const result = runColumns(['top', '--once', '--prefix', prefix], columns);
      expect(result.code).toBe(0);
      expect(result.stdout.split('\n').filter((line) => line.length > columns)).toEqual([]);
      expect(result.stdout).toMatch(/^RING\s+STATUS/m);
    }
    // Without a width, nothing is left out.
    expect(runCli(['top', '--once', '--prefix', prefix]).stdout).toMatch(/BYTES\/S.*LOST\/S/);
  });
});

function runColumns(args: string[], columns: number) {
  const result = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, NO_COLOR: '1', COLUMNS: String(columns) },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
