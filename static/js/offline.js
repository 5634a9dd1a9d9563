// The offline shell: registers the service worker (/sw.js), says when the page runs without its
// host, and brings in a new version of the app on the next load without ever mixing versions.
//
// A new version installs in the background; the tab open meanwhile says so and may reload into it.
// On the next load, if this is the only inpage tab, it takes over at once (one extra reload, then a
// notice); with other tabs open it waits, and the notice offers to update every tab now. A tab
// that sees another take over reloads once its answer, if any, has ended.

const UPDATED_KEY = 'inpage.updated';

/**
 * @param {{notice: (text: string, kind: string, action?: {label: string, run: () => void}) => void,
 *          onOffline: (offline: boolean) => void, idle: () => Promise<void>}} hooks
 *        idle(): resolves when no answer is being written in this tab
 */
export async function registerShell({ notice, onOffline, idle }) {
  const sw = navigator.serviceWorker;
  if (!sw) return null;
  if (sessionStorage.getItem(UPDATED_KEY)) {
    sessionStorage.removeItem(UPDATED_KEY);
    notice('inpage was updated to a new version.', 'info');
  }
  sw.addEventListener('message', (e) => {
    if (e.data?.type === 'offline') onOffline(true);
    if (e.data?.type === 'online') onOffline(false);
  });
  addEventListener('offline', () => onOffline(true));
  const hadController = Boolean(sw.controller);
  sw.addEventListener('controllerchange', async () => {
    if (!hadController) return; // the first install took this page over: same version, nothing to do
    await idle();
    sessionStorage.setItem(UPDATED_KEY, '1');
    location.reload();
  });
  let registration;
  try {
    registration = await sw.register('/sw.js', { scope: '/', updateViaCache: 'none' });
  } catch (e) {
    notice(`Offline use is not available: the service worker did not register (${e.message}).`, 'warning');
    return null;
  }
  if (!hadController) return registration; // the first visit: this page's version is the one installed
  // A version installed in the background during an earlier visit (or during this page's load).
  if (registration.waiting) offerUpdate(registration.waiting, notice);
  const track = (worker) => worker?.addEventListener('statechange', () => {
    if (worker.state !== 'installed') return;
    notice('A new version of inpage is ready. It opens on the next load.', 'info', {
      label: 'Reload now', run: () => worker.postMessage({ type: 'skip-waiting' }),
    });
  });
  track(registration.installing);
  registration.addEventListener('updatefound', () => track(registration.installing));
  return registration;
}

async function offerUpdate(worker, notice) {
  const windows = await ask(worker, 'windows');
  if (windows.count <= 1) {
    worker.postMessage({ type: 'skip-waiting' }); // the only tab: take the new version now
    return;
  }
  notice(`A new version of inpage is ready. It opens when the other ${windows.count - 1} inpage tab(s) close.`, 'info', {
    label: 'Update all tabs now', run: () => worker.postMessage({ type: 'skip-waiting' }),
  });
}

function ask(worker, type) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (e) => resolve(e.data);
    worker.postMessage({ type }, [channel.port2]);
  });
}
