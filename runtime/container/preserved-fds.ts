import { readdirSync, readlinkSync } from 'node:fs';
import { TsrunError } from '../errors.js';

/**
 * runc's check of the fds `--preserve-fds N` hands on (from `base`, after any socket-activation
 * fds): each must be open. tsrun runs on Node, whose event loop opened fds of its own at start-up
 * in the lowest free numbers, i.e. in this very range when the caller passed nothing there: an
 * epoll fd, eventfds, and pipes whose both ends it holds. Those count as not open (and never
 * reach the container); nothing else Node keeps open looks like them.
 */
export function checkPreservedFds(base: number, count: number): void {
  if (count <= 0) return;
  const links = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    try { links.set(Number(name), readlinkSync(`/proc/self/fd/${name}`)); } catch { /* the dir's own fd */ }
  }
  const pipeEnds = new Map<string, number>();
  for (const link of links.values()) if (link.startsWith('pipe:')) pipeEnds.set(link, (pipeEnds.get(link) ?? 0) + 1);
  for (let i = 0; i < count; i++) {
    const fd = base + i;
    const link = links.get(fd);
    const nodes = link === undefined || /^anon_inode:\[(eventpoll|eventfd)\]$/.test(link) || (pipeEnds.get(link) ?? 0) > 1;
    if (nodes) throw new TsrunError(`unable to stat preserved-fd ${i} (of ${count}): stat /proc/self/fd/${fd}: no such file or directory`);
  }
}
