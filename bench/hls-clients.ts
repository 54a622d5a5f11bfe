/**
 * N LL-HLS clients in this process, as hls.js behaves: a blocking playlist reload for the next part
 * (`_HLS_msn`/`_HLS_part`), then the new part itself, again and again. Prints a JSON line a second:
 * { clients, playlists, parts, bytes, errors }.
 * Usage: hls-clients.ts <base URL of the path, e.g. http://127.0.0.1:8080/live/bench/> <N>
 */
import { Agent, get } from 'node:http';

const [base, countText] = process.argv.slice(2) as [string, string];
const N = Number(countText);
const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
const totals = { clients: 0, playlists: 0, parts: 0, bytes: 0, errors: 0 };

function fetchText(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** The next part to ask for, and the newest part's URI, from a media playlist. */
function position(text: string): { msn: number; part: number; newest: string | null } {
  const lines = text.split('\n');
  const seq = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? 0);
  const lastInf = lines.map((l) => l.startsWith('#EXTINF')).lastIndexOf(true);
  const complete = lines.filter((l) => l.startsWith('#EXTINF')).length;
  const tail = lines.slice(lastInf + 1).filter((l) => l.startsWith('#EXT-X-PART:'));
  const newest = [...text.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].at(-1)?.[1] ?? null;
  return { msn: seq + complete, part: tail.length, newest };
}

async function client(): Promise<void> {
  let pos = position((await fetchText(`${base}stream.m3u8`)).body.toString());
  totals.clients++;
  for (;;) {
    try {
      const r = await fetchText(`${base}stream.m3u8?_HLS_msn=${pos.msn}&_HLS_part=${pos.part}`);
      if (r.status !== 200) {
        totals.errors++;
        pos = position((await fetchText(`${base}stream.m3u8`)).body.toString());
        continue;
      }
      totals.playlists++;
      pos = position(r.body.toString());
      if (pos.newest) {
        const part = await fetchText(base + pos.newest);
        totals.parts++;
        totals.bytes += part.body.length;
      }
    } catch {
      totals.errors++;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

for (let i = 0; i < N; i++) {
  void client();
  if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
}
setInterval(() => console.log(JSON.stringify(totals)), 1000);
