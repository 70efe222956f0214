// The CRIU flags `checkpoint` and `restore` share, with runc's words, and the options they make.
import type { FlagSpec, FlagValues } from './args.js';
import type { CgroupsMode, CriuCommonOptions } from '../container/checkpoint.js';

export const CRIU_FLAGS: Record<string, FlagSpec> = {
  'work-path': { name: 'work-path', type: 'string', usage: 'path for saving work files and logs' },
  'tcp-established': { name: 'tcp-established', type: 'bool', usage: 'allow open tcp connections' },
  'ext-unix-sk': { name: 'ext-unix-sk', type: 'bool', usage: 'allow external unix sockets' },
  'shell-job': { name: 'shell-job', type: 'bool', usage: 'allow shell jobs' },
  'lazy-pages': { name: 'lazy-pages', type: 'bool', usage: 'use userfaultfd to lazily restore memory pages' },
  'file-locks': { name: 'file-locks', type: 'bool', usage: 'handle file locks, for safety' },
  'manage-cgroups-mode': { name: 'manage-cgroups-mode', type: 'string', usage: 'cgroups mode: soft|full|strict|ignore (default: soft)' },
  'empty-ns': { name: 'empty-ns', type: 'list', usage: 'create a namespace, but don\'t restore its properties' },
  'auto-dedup': { name: 'auto-dedup', type: 'bool', usage: 'enable auto deduplication of memory images' },
};

/** The options both commands take from the flags above (and --image-path). */
export function criuCommonOptions(flags: FlagValues): CriuCommonOptions {
  return {
    imagePath: flags['image-path'] as string | undefined, workPath: flags['work-path'] as string | undefined,
    tcpEstablished: !!flags['tcp-established'], extUnixSk: !!flags['ext-unix-sk'], shellJob: !!flags['shell-job'],
    fileLocks: !!flags['file-locks'], lazyPages: !!flags['lazy-pages'], autoDedup: !!flags['auto-dedup'],
    manageCgroupsMode: (flags['manage-cgroups-mode'] as CgroupsMode | undefined) ?? '', emptyNs: flags['empty-ns'] as string[],
  };
}
