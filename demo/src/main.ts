/** The demo app: live streams, a player with a protocol switch and stats, a publisher with device pickers. */
import { LivegateError, LivegatePlayer, LivegatePublisher, serverInfo, watchStreams, type PlaybackProtocol, type ServerInfo, type StreamInfo } from '@livegate/sdk';

const server = location.origin;
const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

/** What the tests and curious developers can reach from the console. */
interface DemoHandle {
  player: LivegatePlayer | null;
  publisher: LivegatePublisher | null;
  events: { type: string; detail: string; at: number }[];
}
const demo: DemoHandle = { player: null, publisher: null, events: [] };
(window as unknown as { demo: DemoHandle }).demo = demo;

let info: ServerInfo | null = null;

// ---- routing: #/streams, #/play?path=…&protocol=…, #/publish?path=…
function route(): void {
  const [name = 'streams', query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const tab = ['streams', 'play', 'publish'].includes(name) ? name : 'streams';
  for (const v of ['streams', 'play', 'publish']) $(`view-${v}`).hidden = v !== tab;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    if (a.dataset.tab === tab) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const params = new URLSearchParams(query);
  // `&token=…`: the credentials the player and the publisher send (a JWT, when livegate checks them).
  token = params.get('token') ?? undefined;
  if (tab === 'play') {
    const path = params.get('path');
    if (path) {
      $<HTMLInputElement>('play-path').value = path;
      const proto = params.get('protocol');
      if (proto) $<HTMLSelectElement>('play-protocol').value = proto;
      startPlayer();
    }
    updateEmbed();
  }
  if (tab === 'publish') {
    const path = params.get('path');
    if (path) $<HTMLInputElement>('publish-path').value = path;
    void listDevices();
    updatePublishUrls();
  }
}
addEventListener('hashchange', route);
let token: string | undefined;

// ---- formatting
function kbps(bps: number): string {
  return bps >= 1_000_000 ? `${(bps / 1_000_000).toFixed(1)} Mb/s` : `${Math.round(bps / 1000)} kb/s`;
}
function duration(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s % 60} s` : `${s} s`;
}
function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}
function setStats(dl: HTMLElement, rows: [string, string][]): void {
  dl.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: v })]));
}
function trackLine(t: StreamInfo['tracks'][number]): string {
  if (t.kind === 'video') return `${t.codec.toUpperCase()}${t.width ? ` ${t.width}×${t.height}` : ''}`;
  return `${t.codec.toUpperCase()}${t.sampleRate ? ` ${t.sampleRate / 1000} kHz` : ''}${t.channels ? ` ${t.channels === 1 ? 'mono' : t.channels === 2 ? 'stereo' : `${t.channels} ch`}` : ''}`;
}

// ---- the addresses encoders use
function urlRows(path: string): [string, string][] {
  const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
  const rows: [string, string][] = [];
  if (info?.publish.rtmp && info.ports.rtmp) rows.push(['RTMP (OBS)', `rtmp://${host}:${info.ports.rtmp}/${path.split('/')[0]}  ·  key ${path.split('/').slice(1).join('/') || '(none)'}`]);
  if (info?.publish.rtmp && info.ports.rtmp) rows.push(['RTMP URL', `rtmp://${host}:${info.ports.rtmp}/${path}`]);
  if (info?.publish.srt && info.ports.srt) rows.push(['SRT', `srt://${host}:${info.ports.srt}?streamid=publish:${path}`]);
  if (info?.publish.webrtc !== false) rows.push(['WHIP', `${server}/${path}/whip`]);
  return rows;
}
function fillUrls(dl: HTMLElement, path: string): void {
  dl.replaceChildren(...urlRows(path).flatMap(([k, v]) => [el('dt', { textContent: k }), el('dd', { textContent: v })]));
}
function updatePublishUrls(): void {
  fillUrls($('publish-urls'), $<HTMLInputElement>('publish-path').value.trim() || 'live/cam1');
}

// ---- streams
function renderStreams(streams: StreamInfo[]): void {
  $('streams-summary').textContent = streams.length === 0 ? 'Nothing live right now.' : `${streams.length} live · updated ${new Date().toLocaleTimeString()}`;
  $('streams-empty').hidden = streams.length > 0;
  $('streams-list').replaceChildren(
    ...streams.map((s) => {
      const readers = Object.entries(s.readers.byProtocol).map(([p, n]) => `${n} ${p}`).join(', ') || 'no viewers';
      const play = el('a', { href: `#/play?path=${encodeURIComponent(s.path)}`, className: 'button', textContent: 'Play' });
      play.setAttribute('role', 'button');
      return el(
        'article',
        { className: 'card' },
        el('h3', {}, el('span', { className: 'badge live', textContent: 'live' }), s.path),
        el('div', { className: 'meta' }, ...s.tracks.map((t) => el('span', { className: 'chip', textContent: trackLine(t) }))),
        el('div', { className: 'meta' }, el('span', { textContent: kbps(s.bitrate) }), el('span', { textContent: `via ${s.publisher.protocol}` }), el('span', { textContent: duration(s.uptimeSeconds) })),
        el('div', { className: 'meta' }, el('span', { textContent: `${s.readers.total} watching: ${readers}` })),
        el('div', { className: 'actions' }, play),
      );
    }),
  );
}

// ---- play
function log(type: string, detail: string): void {
  demo.events.push({ type, detail, at: Date.now() });
  const list = $('play-log');
  list.prepend(el('li', { textContent: `${new Date().toLocaleTimeString()} ${type}${detail ? ` — ${detail}` : ''}` }));
  while (list.children.length > 50) list.lastChild?.remove();
}

function startPlayer(): void {
  demo.player?.destroy();
  const path = $<HTMLInputElement>('play-path').value.trim();
  const choice = $<HTMLSelectElement>('play-protocol').value;
  const protocols: PlaybackProtocol[] | undefined = choice === 'auto' ? undefined : [choice as PlaybackProtocol];
  const video = $<HTMLVideoElement>('play-video');
  video.muted = false;
  const player = new LivegatePlayer(video, { server, path, protocols, ...(token ? { token } : {}) });
  demo.player = player;
  $('play-unmute').hidden = true;
  player.on('state', ({ state }) => {
    $('play-state').textContent = state;
    log('state', state);
  });
  player.on('protocol', ({ protocol }) => {
    $('play-proto').textContent = protocol === 'webrtc' ? 'WebRTC' : protocol === 'flv' ? 'WS-FLV' : 'HLS';
    log('protocol', protocol);
  });
  player.on('fallback', ({ from, to, reason }) => log('fallback', `${from} → ${to ?? 'none'}: ${reason}`));
  player.on('reconnecting', ({ delayMs, reason }) => log('reconnecting', `in ${delayMs} ms (${reason})`));
  player.on('ended', ({ reason }) => log('ended', reason));
  player.on('error', (e) => log('error', `${e.code}: ${e.message}`));
  player.on('autoplay-muted', () => {
    $('play-unmute').hidden = false;
    log('autoplay-muted', 'the browser needs a click for sound');
  });
  player.on('stats', (s) => {
    $('play-latency').textContent = s.latencyMs === null ? '' : `${s.latencyMs} ms`;
    $('play-size').textContent = s.width ? `${s.width}×${s.height}` : '';
    setStats($('play-stats'), [
      ['Protocol', s.protocol ?? '—'],
      ['Latency', s.latencyMs === null ? '—' : `${s.latencyMs} ms`],
      ['Resolution', s.width ? `${s.width} × ${s.height}` : '—'],
      ['Frame rate', `${s.fps} fps`],
      ['Bitrate', kbps(s.bitrateBps)],
      ['Packets lost', String(s.packetsLost)],
    ]);
  });
  updateEmbed();
  history.replaceState(null, '', `#/play?path=${encodeURIComponent(path)}${choice === 'auto' ? '' : `&protocol=${choice}`}`);
}

function updateEmbed(): void {
  const path = $<HTMLInputElement>('play-path').value.trim() || 'live/cam1';
  const choice = $<HTMLSelectElement>('play-protocol').value;
  $('embed-code').textContent = `<video id="live" playsinline controls></video>
<script type="module">
  import { LivegatePlayer } from '${server}/sdk/livegate.js';
  const player = new LivegatePlayer(document.getElementById('live'), {
    server: '${server}',
    path: '${path}',${choice === 'auto' ? '' : `\n    protocols: ['${choice}'],`}
  });
  player.on('stats', (s) => console.log(s.protocol, s.latencyMs, 'ms'));
</script>`;
}

$('play-form').addEventListener('submit', (e) => {
  e.preventDefault();
  startPlayer();
});
$('play-stop').addEventListener('click', () => {
  demo.player?.destroy();
  demo.player = null;
  $('play-state').textContent = 'stopped';
});
$('play-unmute').addEventListener('click', () => {
  if (demo.player) demo.player.muted = false;
  $('play-unmute').hidden = true;
});
$('play-path').addEventListener('input', updateEmbed);
$('play-protocol').addEventListener('change', updateEmbed);
$('embed-copy').addEventListener('click', () => void navigator.clipboard?.writeText($('embed-code').textContent ?? ''));

// ---- publish
async function listDevices(): Promise<void> {
  const devices = await navigator.mediaDevices?.enumerateDevices().catch(() => []) ?? [];
  const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, none: string): void => {
    const current = select.value;
    const list = devices.filter((d) => d.kind === kind);
    select.replaceChildren(...(list.length === 0 ? [el('option', { value: '', textContent: none })] : list.map((d, i) => el('option', { value: d.deviceId, textContent: d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i + 1}` }))));
    if (current && list.some((d) => d.deviceId === current)) select.value = current;
  };
  fill($<HTMLSelectElement>('publish-camera'), 'videoinput', 'Default camera');
  fill($<HTMLSelectElement>('publish-mic'), 'audioinput', 'Default microphone');
}

function publishStatus(text: string, kind: '' | 'ok' | 'error' = ''): void {
  const p = $('publish-status');
  p.textContent = text;
  p.className = `status ${kind}`;
}

async function startPublishing(): Promise<void> {
  const path = $<HTMLInputElement>('publish-path').value.trim();
  const [width, height] = $<HTMLSelectElement>('publish-resolution').value.split('x').map(Number);
  const screen = (document.querySelector<HTMLInputElement>('input[name="source"]:checked')?.value ?? 'camera') === 'screen';
  const publisher = new LivegatePublisher({ server, path, ...(token ? { token } : {}) });
  demo.publisher = publisher;
  publisher.on('state', ({ state }) => publishStatus(state === 'publishing' ? `Live on ${path}.` : `${state[0]!.toUpperCase()}${state.slice(1)}…`, state === 'publishing' ? 'ok' : ''));
  publisher.on('reconnecting', ({ delayMs, reason }) => publishStatus(`Reconnecting in ${delayMs} ms (${reason})`));
  publisher.on('error', (e) => publishStatus(`${e.code}: ${e.message}`, 'error'));
  publisher.on('stats', (s) =>
    setStats($('publish-stats'), [
      ['Sending', kbps(s.bitrateBps)],
      ['Picture', s.width ? `${s.width} × ${s.height} at ${Math.round(s.fps)} fps` : '—'],
      ['Limited by', s.qualityLimitation],
      ['Round trip', s.rttMs === null ? '—' : `${s.rttMs} ms`],
    ]),
  );
  $<HTMLButtonElement>('publish-start').disabled = true;
  try {
    const media = await publisher.start({
      screen,
      deviceId: $<HTMLSelectElement>('publish-camera').value || undefined,
      audioDeviceId: $<HTMLSelectElement>('publish-mic').value || undefined,
      width,
      height,
      videoBitrate: Number($<HTMLInputElement>('publish-bitrate').value) * 1000 || undefined,
    });
    $<HTMLVideoElement>('publish-preview').srcObject = media;
    $('publish-live').hidden = false;
    $<HTMLButtonElement>('publish-stop').disabled = false;
    $<HTMLButtonElement>('publish-mute-audio').disabled = false;
    void listDevices();
  } catch (err) {
    const e = err instanceof LivegateError ? err : new LivegateError('network', String(err));
    publishStatus(e.code === 'busy' ? `"${path}" is already being published.` : `${e.code}: ${e.message}`, 'error');
    $<HTMLButtonElement>('publish-start').disabled = false;
    demo.publisher = null;
  }
}

async function stopPublishing(): Promise<void> {
  await demo.publisher?.stop();
  demo.publisher = null;
  $<HTMLVideoElement>('publish-preview').srcObject = null;
  $('publish-live').hidden = true;
  $<HTMLButtonElement>('publish-start').disabled = false;
  $<HTMLButtonElement>('publish-stop').disabled = true;
  $<HTMLButtonElement>('publish-mute-audio').disabled = true;
  publishStatus('Not publishing.');
}

$('publish-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void startPublishing();
});
$('publish-stop').addEventListener('click', () => void stopPublishing());
$('publish-mute-audio').addEventListener('click', () => {
  const b = $<HTMLButtonElement>('publish-mute-audio');
  const muted = b.getAttribute('aria-pressed') !== 'true';
  demo.publisher?.mute('audio', muted);
  b.setAttribute('aria-pressed', String(muted));
  b.textContent = muted ? 'Unmute mic' : 'Mute mic';
});
$('publish-camera').addEventListener('change', () => {
  const id = $<HTMLSelectElement>('publish-camera').value;
  if (demo.publisher && id) void demo.publisher.switchCamera(id).catch((e: unknown) => publishStatus(String(e), 'error'));
});
$('publish-path').addEventListener('input', updatePublishUrls);

// ---- start
watchStreams({ server }, renderStreams, () => ($('streams-summary').textContent = 'Reconnecting to the gateway…'));
void serverInfo({ server })
  .then((i) => {
    info = i;
    if (i) $('server-version').textContent = `livegate ${i.version}`;
    fillUrls($('empty-urls'), 'live/cam1');
    updatePublishUrls();
  })
  .catch(() => undefined);
route();
