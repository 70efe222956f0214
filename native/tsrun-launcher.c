/*
 * bin/tsrun: execs Node on tsrun-launcher.cjs beside it (which compiles the bundle with its code
 * cache, see scripts/build.mjs), as a `#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node` line did,
 * without env's own exec and dynamic loading (~1.5 ms of every command). NODE_EXTRA_CA_CERTS goes:
 * tsrun speaks no TLS, and Node reads the file before any script runs (~40 ms of CPU here).
 * Static: nothing to load. Node's argv is [node, DIR/tsrun-launcher.cjs, PATH, args...], PATH
 * being the file the caller executed (AT_EXECFN, symlinks kept, as a #! line passes it): the
 * launcher removes its own name, so process.argv is what it was with the #! line.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#ifndef NODE_BIN
#define NODE_BIN "/usr/bin/node"
#endif

int main(int argc, char **argv) {
  char self[PATH_MAX], script[PATH_MAX + 32];
  const char *executed = (const char *)getauxval(AT_EXECFN);
  if (!executed) executed = argv[0];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n >= 0) {
    self[n] = 0;
  } else if (!realpath(executed, self)) {
    fprintf(stderr, "tsrun: cannot find the directory of %s: %s\n", executed, strerror(errno));
    return 1;
  }
  snprintf(script, sizeof script, "%s/tsrun-launcher.cjs", dirname(self));
  unsetenv("NODE_EXTRA_CA_CERTS");
  char **args = calloc((size_t)argc + 3, sizeof(char *));
  if (!args) return 1;
  args[0] = (char *)NODE_BIN;
  args[1] = script;
  args[2] = (char *)executed;
  for (int i = 1; i < argc; i++) args[i + 2] = argv[i];
  execv(NODE_BIN, args);
  fprintf(stderr, "tsrun: exec %s: %s\n", NODE_BIN, strerror(errno));
  return 127;
}
