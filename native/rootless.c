/*
 * An executor run by a user who is not root (rootless containers). E has no
 * privilege in the initial user namespace, so C's id maps follow the
 * kernel's rules for unprivileged writers: one line mapping the writer's
 * own id, and for gid_map only after setgroups is denied. Anything more
 * goes through the setuid helpers newuidmap/newgidmap (shadow's uidmap
 * package), which grant the ranges of /etc/subuid and /etc/subgid.
 *
 * Both ways need C's /proc files to belong to the user: an unprivileged
 * writer must be able to open /proc/C/uid_map, and the helpers check that
 * the target process is the caller's. So C is dumpable from the clone
 * until it is released (as runc's nsexec does around the same step), which
 * is before anything runs in the container.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor.h"

extern char **environ;

/* E's effective uid before anything changed it, which C inherits: runc sets
 * no supplementary groups for a caller who is not root. */
static int g_rootless_euid;

int e_rootless_before_clone(const struct plan *p)
{
	g_rootless_euid = geteuid() != 0;
	if (!p->idmap_tools)
		return 0;
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		return fail_errno(errno, "prctl PR_SET_DUMPABLE");
	return 0;
}

int e_rootless_user_ns_first(void)
{
	return geteuid() != 0;
}

void c_rootless_released(const struct plan *p)
{
	if (p->idmap_tools)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int c_setgroups_skipped(void)
{
	return g_rootless_euid || c_setgroups_denied();
}

int c_setgroups_denied(void)
{
	char buf[16] = { 0 };
	int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	return n >= 4 && strncmp(buf, "deny", 4) == 0;
}

/* newuidmap PID inside outside count [...]: the map's numbers, in order.
 * Its stderr is kept for the error message. */
static int run_map_tool(const char *tool, pid_t child, const char *map, const char *what)
{
	char *argv[3 + 3 * 340 + 1], pidbuf[16], *copy, *save = NULL, *tok, out[512];
	int pp[2], status, argc = 0;
	ssize_t n, got = 0;
	pid_t pid;

	copy = strdup(map);
	if (!copy)
		return fail("out of memory");
	snprintf(pidbuf, sizeof pidbuf, "%d", child);
	argv[argc++] = (char *)tool;
	argv[argc++] = pidbuf;
	for (tok = strtok_r(copy, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (argc >= (int)(sizeof argv / sizeof argv[0]) - 1) {
			free(copy);
			return fail("%s map has too many lines for %s", what, tool);
		}
		argv[argc++] = tok;
	}
	argv[argc] = NULL;
	if (pipe2(pp, O_CLOEXEC) < 0) {
		free(copy);
		return fail_errno(errno, "pipe");
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;
		free(copy);
		close(pp[0]);
		close(pp[1]);
		return fail_errno(e, "fork %s", tool);
	}
	if (pid == 0) {
		dup2(pp[1], 1);
		dup2(pp[1], 2);
		execve(tool, argv, environ);
		dprintf(2, "exec %s: %s", tool, strerror(errno));
		_exit(127);
	}
	close(pp[1]);
	while (got < (ssize_t)sizeof out - 1 &&
	       ((n = read(pp[0], out + got, sizeof out - 1 - (size_t)got)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			got += n;
	close(pp[0]);
	out[got] = 0;
	while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == ' '))
		out[--got] = 0;
	free(copy);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	/* runc's words first, then what the helper said. */
	return fail("failed to use new%s map on %d: %s exited with status %d%s%s", what, child, tool,
		    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), got ? ": " : "", out);
}

static int write_map(int procfd, pid_t child, const char *file, const char *what, const char *map,
		     const char *tool)
{
	char path[64];
	snprintf(path, sizeof path, "%d/%s", child, file);
	if (write_file_at(procfd, path, map, strlen(map)) == 0)
		return 0;
	/* As runc: a direct write first, the helper when the kernel refuses it. */
	if (errno != EPERM || !tool[0])
		return fail_errno(errno, "failed to update /proc/%d/%s", child, file);
	sync_log(LOG_DEBUG, "executor: /proc/%d/%s: EPERM, using %s", child, file, tool);
	return run_map_tool(tool, child, map, what);
}

int e_rootless_write_id_maps(const struct plan *p, int procfd, pid_t child)
{
	const struct rec *t = p->idmap_tools;
	char path[64];
	int rc;

	if (t->u.idmap_tools.flags & IDMAP_TOOLS_SETGROUPS_DENY) {
		snprintf(path, sizeof path, "%d/setgroups", child);
		if (write_file_at(procfd, path, "deny", 4) < 0)
			return fail_errno(errno, "failed to write 'deny' to /proc/%d/setgroups", child);
	}
	rc = write_map(procfd, child, "uid_map", "uid", p->uid_map->u.str, t->u.idmap_tools.newuidmap);
	if (rc == 0)
		rc = write_map(procfd, child, "gid_map", "gid", p->gid_map->u.str, t->u.idmap_tools.newgidmap);
	/* E itself holds host resources until it exits. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return rc;
}
